ALTER TABLE "placements" ADD COLUMN "root_epoch" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "relays" ADD COLUMN "lifecycle" text DEFAULT 'active' NOT NULL;--> statement-breakpoint
ALTER TABLE "relays" ADD COLUMN "lifecycle_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "relays" ADD COLUMN "move_total" integer;