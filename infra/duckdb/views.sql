-- DuckDB views over the results lake: a folder written by `sightline run --output out`, or
-- a local copy of the results bucket. Replace 'out/results' with your results location.
CREATE OR REPLACE VIEW results AS
SELECT * FROM read_parquet('out/results/**/*.parquet', hive_partitioning = true,
                           hive_types = {'catalog': 'VARCHAR', 'date': 'VARCHAR'});

-- The documented query path: one row per object version (bucket, key, etag) and model
-- version, the latest by processed_at. Redeliveries, retries after a crash and backfills
-- can write an object version again; this view shows it once. Every delivery of an object
-- version lands in the same partition (its date is the object's last-modified day), so the
-- window is partitioned by catalog and date too, and filters on them still prune.
CREATE OR REPLACE VIEW results_latest AS
SELECT * EXCLUDE (rn) FROM (
  SELECT *, row_number() OVER (PARTITION BY catalog, date, bucket, key, etag, model_version
                               ORDER BY processed_at DESC) AS rn
  FROM results
)
WHERE rn = 1;

-- The current answer per image: one row per object version (bucket, key, etag), the one
-- processed last, whatever its model version. After a new model or head is promoted and the
-- objects are reprocessed (`sightline backfill`), these are the champion's rows.
CREATE OR REPLACE VIEW results_current AS
SELECT * EXCLUDE (rn) FROM (
  SELECT *, row_number() OVER (PARTITION BY catalog, date, bucket, key, etag
                               ORDER BY processed_at DESC) AS rn
  FROM results
)
WHERE rn = 1;
