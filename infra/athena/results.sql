-- Athena (engine v3) table over the Parquet results. Replace <bucket> (twice) with the
-- results bucket (stack output ResultsLocation). Columns follow
-- shared/tables/src/results.rs::results_schema() in order; Parquet columns are matched by
-- name. The partition values exist only in the path (catalog=<c>/date=<YYYY-MM-DD>/), and
-- partition projection computes them, so no MSCK REPAIR / ADD PARTITION is ever needed.
-- `embedding` (FixedSizeList<Float32, 1280> in Arrow) is a plain Parquet list: array<float>.
CREATE EXTERNAL TABLE IF NOT EXISTS sightline_results (
  `bucket`             string,
  `key`                string,
  `etag`               string,
  `size_bytes`         bigint,
  `model`              string,
  `model_version`      string,
  `execution_provider` string,
  `processed_at`       timestamp,   -- UTC, microseconds
  `width`              int,         -- after EXIF orientation; NULL when not decoded
  `height`             int,
  `aspect`             float,       -- width / height
  `brightness`         float,       -- mean luma (BT.601), 0..255
  `contrast`           float,       -- luma standard deviation, 0..255
  `labels`             array<struct<class_id:int,label:string,score:float>>,
  `tags`               array<string>,
  -- detector boxes and, for catalogs with [faces], faces (label 'face'):
  `detections`         array<struct<class_id:int,label:string,score:float,x_min:float,y_min:float,x_max:float,y_max:float>>,
  `embedding`          array<float>, -- 1280 values or NULL
  `redacted_key`       string,      -- redacted/<key> when the catalog redacts faces, else NULL
  `redaction_skipped`  string,      -- 'too_large': the catalog redacts but the copy was over its size bound (row otherwise a success)
  `faces_redacted`     int,         -- faces pixelated in the redacted copy (each also a 'face' detection); null when the catalog does not redact or no copy was written
  `error_kind`         string,      -- NULL when the image was processed
  `error`              string,
  `fetch_ms`           float,
  `decode_ms`          float,
  `infer_ms`           float
)
PARTITIONED BY (`catalog` string, `date` string)
STORED AS PARQUET
LOCATION 's3://<bucket>/results/'
TBLPROPERTIES (
  'projection.enabled'            = 'true',
  -- catalogs = models/catalogs/*.toml, plus _unrouted (keys outside incoming/<catalog>/);
  -- add new catalogs here.
  'projection.catalog.type'       = 'enum',
  'projection.catalog.values'     = 'retail,security,medical,_unrouted',
  'projection.date.type'          = 'date',
  'projection.date.format'        = 'yyyy-MM-dd',
  'projection.date.range'         = 'NOW-3YEARS,NOW',
  'projection.date.interval'      = '1',
  'projection.date.interval.unit' = 'DAYS',
  'storage.location.template'     = 's3://<bucket>/results/catalog=${catalog}/date=${date}/'
);

-- The documented query path: one row per object version (bucket, key, etag) and model
-- version, the latest by processed_at. Delivery is at least once (redeliveries, retries
-- after a crash, backfills), so the table itself can hold an object version twice; query
-- this view, as the examples below do. Every delivery of an object version lands in the
-- same partition (its date is the object's Last-Modified day), so the window is partitioned
-- by catalog and "date" too, and filters on them still prune partitions.
CREATE OR REPLACE VIEW sightline_results_latest AS
SELECT bucket, key, etag, size_bytes, model, model_version, execution_provider, processed_at,
       width, height, aspect, brightness, contrast, labels, tags, detections, embedding,
       redacted_key, redaction_skipped, faces_redacted, error_kind, error, fetch_ms, decode_ms, infer_ms, catalog, "date"
FROM (
  SELECT *, row_number() OVER (PARTITION BY catalog, "date", bucket, key, etag, model_version
                               ORDER BY processed_at DESC) AS rn
  FROM sightline_results
)
WHERE rn = 1;

-- The current answer per image: one row per object version (bucket, key, etag), the one
-- processed last whatever its model version: after a new model or head is promoted and the
-- objects are reprocessed (`sightline backfill`), the champion's rows.
CREATE OR REPLACE VIEW sightline_results_current AS
SELECT bucket, key, etag, size_bytes, model, model_version, execution_provider, processed_at,
       width, height, aspect, brightness, contrast, labels, tags, detections, embedding,
       redacted_key, redaction_skipped, faces_redacted, error_kind, error, fetch_ms, decode_ms, infer_ms, catalog, "date"
FROM (
  SELECT *, row_number() OVER (PARTITION BY catalog, "date", bucket, key, etag
                               ORDER BY processed_at DESC) AS rn
  FROM sightline_results
)
WHERE rn = 1;

-- 1. Top-5 top-1 labels per catalog per day (last 7 days). labels is sorted by score, so
--    element 1 is the top class; element_at returns NULL for failed images (empty list).
SELECT catalog, "date", label, n
FROM (
  SELECT catalog, "date", element_at(labels, 1).label AS label, count(*) AS n,
         row_number() OVER (PARTITION BY catalog, "date" ORDER BY count(*) DESC) AS rk
  FROM sightline_results_latest
  WHERE "date" >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d')
    AND error_kind IS NULL
  GROUP BY catalog, "date", element_at(labels, 1).label
)
WHERE rk <= 5
ORDER BY catalog, "date" DESC, n DESC;

-- 2. Errors by kind per catalog (today).
SELECT catalog, error_kind, count(*) AS n, arbitrary(key) AS example_key, arbitrary(error) AS example_error
FROM sightline_results_latest
WHERE "date" = date_format(current_date, '%Y-%m-%d')
  AND error_kind IS NOT NULL
GROUP BY catalog, error_kind
ORDER BY n DESC;

-- 3. Tag counts per catalog (last 30 days), one row per (image, tag).
SELECT catalog, tag, count(*) AS images
FROM sightline_results_latest
CROSS JOIN UNNEST(tags) AS t(tag)
WHERE "date" >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
GROUP BY catalog, tag
ORDER BY catalog, images DESC;

-- 4. Faces per day in the security catalog (last 7 days) and where the redacted copies are.
SELECT "date", count(*) AS images,
       count_if(any_match(detections, d -> d.label = 'face')) AS with_faces,
       arbitrary(redacted_key) AS example_redacted_key
FROM sightline_results_latest
WHERE catalog = 'security'
  AND "date" >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d')
  AND error_kind IS NULL
GROUP BY "date"
ORDER BY "date" DESC;

-- 5. Daily brightness and contrast per catalog (last 30 days): what the report's drift
--    tests compare, as a trend.
SELECT catalog, "date", count(*) AS images,
       round(avg(brightness), 1) AS mean_brightness, round(avg(contrast), 1) AS mean_contrast
FROM sightline_results_latest
WHERE "date" >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
  AND error_kind IS NULL
GROUP BY catalog, "date"
ORDER BY catalog, "date" DESC;
