CREATE EXTERNAL TABLE IF NOT EXISTS `examples`.`github_push` (
  `id` string,
  `created_at` timestamp,
  `actor_login` string,
  `repo_name` string,
  `ref` string,
  `commit_count` int,
  `commits` array<struct<`sha`:string,`author`:struct<`name`:string,`email`:string>,`message`:string,`distinct`:boolean>>,
  `commit_shas` array<string>,
  `head_message` string
)
PARTITIONED BY (
  `year` string,
  `month` string,
  `day` string
)
STORED AS PARQUET
LOCATION 's3://curated-bucket/github_push/'
TBLPROPERTIES ('classification'='parquet', 'parquet.compression'='SNAPPY')