CREATE EXTERNAL TABLE IF NOT EXISTS `iot`.`sensor_readings` (
  `timestamp` bigint,
  `latitude` double,
  `longitude` double,
  `temperature` double,
  `humidity` double,
  `pressure` double
)
PARTITIONED BY (
  `year` string,
  `month` string,
  `device_id` string
)
STORED AS PARQUET
LOCATION 's3://curated-bucket/iot/sensor_readings/'
TBLPROPERTIES ('classification'='parquet', 'parquet.compression'='SNAPPY')