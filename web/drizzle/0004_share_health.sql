CREATE TABLE "share_health" (
	"file_id" text NOT NULL,
	"relay_id" text NOT NULL,
	"state" text NOT NULL,
	"detail" text DEFAULT '' NOT NULL,
	"scrub_damage" jsonb,
	"checked_at" timestamp with time zone NOT NULL,
	CONSTRAINT "share_health_file_id_relay_id_pk" PRIMARY KEY("file_id","relay_id")
);
--> statement-breakpoint
ALTER TABLE "share_health" ADD CONSTRAINT "share_health_file_id_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "share_health" ADD CONSTRAINT "share_health_relay_id_relays_id_fk" FOREIGN KEY ("relay_id") REFERENCES "public"."relays"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "share_health_relay_idx" ON "share_health" USING btree ("relay_id");