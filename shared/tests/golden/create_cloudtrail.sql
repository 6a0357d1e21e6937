CREATE EXTERNAL TABLE IF NOT EXISTS `examples`.`cloudtrail` (
  `event_id` string,
  `event_time` timestamp,
  `event_source` string,
  `event_name` string,
  `aws_region` string,
  `source_ip_address` string,
  `user_agent` string,
  `user_identity` struct<`type`:string,`principal_id`:string,`arn`:string,`account_id`:string,`access_key_id`:string,`user_name`:string,`session_context`:struct<`attributes`:struct<`creation_date`:timestamp,`mfa_authenticated`:boolean>>>,
  `request_parameters` string,
  `response_elements` string,
  `resources` array<struct<`arn`:string,`account_id`:string,`type`:string>>,
  `error_code` string,
  `recipient_account_id` string
)
PARTITIONED BY (
  `year` string,
  `month` string,
  `day` string
)
STORED AS PARQUET
LOCATION 's3://curated-bucket/cloudtrail/'
TBLPROPERTIES ('classification'='parquet', 'parquet.compression'='SNAPPY')