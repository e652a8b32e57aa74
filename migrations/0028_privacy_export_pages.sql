-- A Shopify customers/data_request export runs in pages like a redact (privacy_progress, phase
-- 'export'): each run of its step adds one page of the customer's stored events to this JSON
-- array, and the last moves it, sorted, into privacy_requests.export. NULL otherwise and once done.
ALTER TABLE privacy_progress ADD COLUMN export TEXT;
