ALTER TABLE "files" ADD COLUMN "layout" jsonb;--> statement-breakpoint
ALTER TABLE "placements" ADD COLUMN "group_x" integer;--> statement-breakpoint
ALTER TABLE "relays" ADD COLUMN "group_label" text;