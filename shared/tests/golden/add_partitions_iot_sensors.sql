ALTER TABLE `iot`.`sensor_readings` ADD IF NOT EXISTS
  PARTITION (`year` = '2020', `month` = '06', `device_id` = 'dev-0001') LOCATION 's3://curated-bucket/iot/sensor_readings/year=2020/month=06/device_id=dev-0001/'
  PARTITION (`year` = '2020', `month` = '06', `device_id` = 'it\'s\\x') LOCATION 's3://curated-bucket/iot/sensor_readings/year=2020/month=06/device_id=it%27s%5Cx/'
  PARTITION (`year` = '2020', `month` = '06', `device_id` = '__HIVE_DEFAULT_PARTITION__') LOCATION 's3://curated-bucket/iot/sensor_readings/year=2020/month=06/device_id=__HIVE_DEFAULT_PARTITION__/'