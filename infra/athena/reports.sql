-- Athena (engine v3) tables over the model-quality reports' Parquet: metrics/ and drift/,
-- written by the report Lambda (or `sightline report --bucket`) into the results bucket.
-- Replace <bucket> (four times) with the results bucket (stack output ResultsLocation
-- without `results/`). Columns follow shared/report/src/outputs.rs (metrics_schema,
-- drift_schema) in order; Parquet columns are matched by name. As for the results table,
-- catalog and date exist only in the path (catalog=<c>/date=<YYYY-MM-DD>/) and partition
-- projection computes them. `date` is the report's date (the scheduled event's day), not
-- the date of the images: the windows compared are in `reference` and `current`.
-- One file per report run: report-<id>.parquet, <id> from the two windows and the model
-- version, so re-running the same report on the same day replaces its file.

-- Long format: one row per number. `class` is NULL for whole-window metrics.
-- metric: accuracy, top5_accuracy, macro_precision, macro_recall, macro_f1, micro_f1,
--         weighted_f1, roc_auc_macro, ece (class NULL); precision, recall, f1,
--         best_f1_threshold (per class); map, map50 (class NULL), ap (per detector class).
-- support: labelled images (whole window, per class) or images with boxes (map, map50) or
--          ground-truth boxes (ap). value is NULL where a metric is undefined (e.g.
--          top5_accuracy when fewer than 5 labels are stored per image).
CREATE EXTERNAL TABLE IF NOT EXISTS sightline_metrics (
  `generated_at`  timestamp,   -- UTC, microseconds
  `model`         string,      -- '+'-joined when the catalog runs several models
  `model_version` string,
  `reference`     string,      -- the reference window, e.g. 'dates=-8..-2'
  `current`       string,      -- the current window, e.g. 'dates=-1..-1'
  `metric`        string,
  `class`         string,
  `value`         double,
  `support`       bigint
)
PARTITIONED BY (`catalog` string, `date` string)
STORED AS PARQUET
LOCATION 's3://<bucket>/metrics/'
TBLPROPERTIES (
  'projection.enabled'            = 'true',
  -- catalogs = models/catalogs/*.toml; add new catalogs here.
  'projection.catalog.type'       = 'enum',
  'projection.catalog.values'     = 'retail,security,medical',
  'projection.date.type'          = 'date',
  'projection.date.format'        = 'yyyy-MM-dd',
  'projection.date.range'         = 'NOW-3YEARS,NOW',
  'projection.date.interval'      = '1',
  'projection.date.interval.unit' = 'DAYS',
  'storage.location.template'     = 's3://<bucket>/metrics/catalog=${catalog}/date=${date}/'
);

-- One row per drift test. warn and alert are the levels the value was judged against: the
-- method's default, raised to the test's permutation noise floor where that is higher.
-- feature: outcome, top1_class, top1_confidence, brightness, contrast, aspect, width,
--          height, detections, embedding, 'embedding (same images)'.
-- method:  psi, js_distance, ks, wasserstein_normed, mean_shift, mmd, displacement.
-- status:  ok, warn, alert.
CREATE EXTERNAL TABLE IF NOT EXISTS sightline_drift (
  `generated_at`  timestamp,
  `model`         string,
  `model_version` string,
  `reference`     string,
  `current`       string,
  `feature`       string,
  `method`        string,
  `value`         double,
  `warn`          double,
  `alert`         double,
  `status`        string,
  `n_reference`   bigint,      -- values in the reference window
  `n_current`     bigint       -- values in the current window
)
PARTITIONED BY (`catalog` string, `date` string)
STORED AS PARQUET
LOCATION 's3://<bucket>/drift/'
TBLPROPERTIES (
  'projection.enabled'            = 'true',
  'projection.catalog.type'       = 'enum',
  'projection.catalog.values'     = 'retail,security,medical',
  'projection.date.type'          = 'date',
  'projection.date.format'        = 'yyyy-MM-dd',
  'projection.date.range'         = 'NOW-3YEARS,NOW',
  'projection.date.interval'      = '1',
  'projection.date.interval.unit' = 'DAYS',
  'storage.location.template'     = 's3://<bucket>/drift/catalog=${catalog}/date=${date}/'
);

-- 1. Accuracy and macro F1 per catalog per report day (last 90 days).
SELECT catalog, "date", model_version, "current",
       max(CASE WHEN metric = 'accuracy' THEN value END) AS accuracy,
       max(CASE WHEN metric = 'macro_f1' THEN value END) AS macro_f1,
       max(CASE WHEN metric = 'accuracy' THEN support END) AS labelled
FROM sightline_metrics
WHERE "date" >= date_format(current_date - INTERVAL '90' DAY, '%Y-%m-%d')
  AND class IS NULL
GROUP BY catalog, "date", model_version, "current"
ORDER BY catalog, "date" DESC;

-- 2. The ten weakest classes (F1, at least 5 labelled images) in the latest report of a catalog.
SELECT class, value AS f1, support
FROM sightline_metrics
WHERE catalog = 'retail'
  AND metric = 'f1'
  AND support >= 5
  AND generated_at = (SELECT max(generated_at) FROM sightline_metrics WHERE catalog = 'retail')
ORDER BY value ASC
LIMIT 10;

-- 3. Drift tests that warned or alerted in the last 14 days.
SELECT catalog, "date", feature, method, round(value, 4) AS value, warn, alert, status,
       n_reference, n_current
FROM sightline_drift
WHERE "date" >= date_format(current_date - INTERVAL '14' DAY, '%Y-%m-%d')
  AND status <> 'ok'
ORDER BY "date" DESC, CASE status WHEN 'alert' THEN 0 ELSE 1 END, catalog, feature;

-- 4. One feature's drift over time (brightness, Kolmogorov–Smirnov), to tune its levels.
SELECT catalog, "date", round(value, 4) AS ks, warn, alert, status
FROM sightline_drift
WHERE feature = 'brightness' AND method = 'ks'
  AND "date" >= date_format(current_date - INTERVAL '90' DAY, '%Y-%m-%d')
ORDER BY catalog, "date";
