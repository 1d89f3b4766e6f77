CREATE TABLE "share_verifications" (
	"file_id" text NOT NULL,
	"relay_id" text NOT NULL,
	"epoch" integer NOT NULL,
	"state" text NOT NULL,
	"repaired_at" timestamp with time zone NOT NULL,
	"verified_at" timestamp with time zone,
	CONSTRAINT "share_verifications_file_id_relay_id_pk" PRIMARY KEY("file_id","relay_id")
);
--> statement-breakpoint
ALTER TABLE "share_health" ADD COLUMN "auth_failed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "share_verifications" ADD CONSTRAINT "share_verifications_file_id_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "share_verifications" ADD CONSTRAINT "share_verifications_relay_id_relays_id_fk" FOREIGN KEY ("relay_id") REFERENCES "public"."relays"("id") ON DELETE cascade ON UPDATE no action;