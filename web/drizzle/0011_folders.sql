CREATE TABLE "folders" (
	"id" text PRIMARY KEY NOT NULL,
	"owner_id" uuid NOT NULL,
	"parent_id" text,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"trashed_at" timestamp with time zone,
	"trashed_with" text
);
--> statement-breakpoint
DROP INDEX "files_owner_name_idx";--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "folder_id" text;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "record_name" text;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "trashed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "trashed_with" text;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "replaces_id" text;--> statement-breakpoint
ALTER TABLE "folders" ADD CONSTRAINT "folders_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "folders" ADD CONSTRAINT "folders_parent_id_folders_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."folders"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "folders_parent_name_idx" ON "folders" USING btree ("owner_id",coalesce("parent_id", ''),"name") WHERE trashed_at is null;--> statement-breakpoint
CREATE INDEX "folders_parent_idx" ON "folders" USING btree ("parent_id");--> statement-breakpoint
CREATE INDEX "folders_trash_idx" ON "folders" USING btree ("owner_id","trashed_with");--> statement-breakpoint
ALTER TABLE "files" ADD CONSTRAINT "files_folder_id_folders_id_fk" FOREIGN KEY ("folder_id") REFERENCES "public"."folders"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "files_folder_name_idx" ON "files" USING btree ("owner_id",coalesce("folder_id", ''),"name") WHERE status <> 'deleted' and trashed_at is null and replaces_id is null;--> statement-breakpoint
CREATE INDEX "files_trash_idx" ON "files" USING btree ("owner_id","trashed_with");