-- Products' real outer size in millimetres (width, height, depth), so XR
-- and AR show them at true scale. All three or none: a product imported
-- without a size has none.

ALTER TABLE products ADD COLUMN width_mm BIGINT CHECK (width_mm BETWEEN 1 AND 5000);
ALTER TABLE products ADD COLUMN height_mm BIGINT CHECK (height_mm BETWEEN 1 AND 5000);
ALTER TABLE products ADD COLUMN depth_mm BIGINT CHECK (depth_mm BETWEEN 1 AND 5000);
