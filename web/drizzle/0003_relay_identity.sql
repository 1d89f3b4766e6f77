CREATE TABLE "relay_enrollments" (
	"id" text PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"label" text NOT NULL,
	"relay_id" text,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"used_by_relay" text,
	"used_with_key" text,
	CONSTRAINT "relay_enrollments_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
ALTER TABLE "relays" ADD COLUMN "public_key" text;--> statement-breakpoint
ALTER TABLE "relays" ADD COLUMN "last_signed_at" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "relay_enrollments" ADD CONSTRAINT "relay_enrollments_relay_id_relays_id_fk" FOREIGN KEY ("relay_id") REFERENCES "public"."relays"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "relay_enrollments" ADD CONSTRAINT "relay_enrollments_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;