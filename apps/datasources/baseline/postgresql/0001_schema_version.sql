-- Versions of the tenant baseline applied to this database.
CREATE TABLE schema_version (
  version    varchar(32) PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_version (version) VALUES ('0001');
