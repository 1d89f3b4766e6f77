CREATE TABLE "relays" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"url" text NOT NULL,
	"location" text NOT NULL,
	"version" text NOT NULL,
	"storage" text NOT NULL,
	"free_bytes" bigint NOT NULL,
	"used_bytes" bigint NOT NULL,
	"registered_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_heartbeat" timestamp with time zone NOT NULL
);
