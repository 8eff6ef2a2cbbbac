-- The audit log is pruned by age (retention); the index keeps that a range delete.
CREATE INDEX audit_log_at ON audit_log (at);
