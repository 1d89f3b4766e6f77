CREATE TABLE "federated_files" (
	"file_id" text PRIMARY KEY NOT NULL,
	"user_link_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "federation_links" (
	"id" text PRIMARY KEY NOT NULL,
	"handle" text NOT NULL,
	"name" text NOT NULL,
	"origin" text NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "federation_links_handle_unique" UNIQUE("handle")
);
--> statement-breakpoint
CREATE TABLE "federation_nonces" (
	"user_link_id" text NOT NULL,
	"nonce" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "federation_nonces_user_link_id_nonce_pk" PRIMARY KEY("user_link_id","nonce")
);
--> statement-breakpoint
CREATE TABLE "federation_remotes" (
	"id" text PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"name" text NOT NULL,
	"deployment_id" text NOT NULL,
	"fingerprint" text NOT NULL,
	"link_handle" text NOT NULL,
	"link_token" text NOT NULL,
	"relays" jsonb NOT NULL,
	"status" text NOT NULL,
	"last_error" text,
	"last_checked_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "federation_remotes_url_unique" UNIQUE("url"),
	CONSTRAINT "federation_remotes_deployment_id_unique" UNIQUE("deployment_id")
);
--> statement-breakpoint
CREATE TABLE "federation_user_links" (
	"id" text PRIMARY KEY NOT NULL,
	"link_id" text NOT NULL,
	"user_id" uuid NOT NULL,
	"public_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "federated_files" ADD CONSTRAINT "federated_files_file_id_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "federated_files" ADD CONSTRAINT "federated_files_user_link_id_federation_user_links_id_fk" FOREIGN KEY ("user_link_id") REFERENCES "public"."federation_user_links"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "federation_links" ADD CONSTRAINT "federation_links_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "federation_nonces" ADD CONSTRAINT "federation_nonces_user_link_id_federation_user_links_id_fk" FOREIGN KEY ("user_link_id") REFERENCES "public"."federation_user_links"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "federation_user_links" ADD CONSTRAINT "federation_user_links_link_id_federation_links_id_fk" FOREIGN KEY ("link_id") REFERENCES "public"."federation_links"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "federation_user_links" ADD CONSTRAINT "federation_user_links_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "federated_files_user_link_idx" ON "federated_files" USING btree ("user_link_id");--> statement-breakpoint
CREATE INDEX "federation_nonces_expiry_idx" ON "federation_nonces" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "federation_user_links_key_idx" ON "federation_user_links" USING btree ("link_id","public_key");--> statement-breakpoint
CREATE INDEX "federation_user_links_user_idx" ON "federation_user_links" USING btree ("user_id");