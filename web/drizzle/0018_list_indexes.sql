CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
CREATE INDEX "files_name_trgm_idx" ON "files" USING gin ("name" gin_trgm_ops) WHERE status <> 'deleted' and trashed_at is null and replaces_id is null;--> statement-breakpoint
CREATE INDEX "history_renew_file_idx" ON "history" USING btree ("file_id","created_at") WHERE operation = 'renew';