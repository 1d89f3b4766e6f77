CREATE TABLE "federation_removals" (
	"deployment_id" text NOT NULL,
	"remote_file_id" text NOT NULL,
	"owner_id" uuid NOT NULL,
	"file_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "federation_removals_deployment_id_remote_file_id_pk" PRIMARY KEY("deployment_id","remote_file_id")
);
--> statement-breakpoint
ALTER TABLE "federation_removals" ADD CONSTRAINT "federation_removals_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "federation_removals_owner_idx" ON "federation_removals" USING btree ("owner_id");