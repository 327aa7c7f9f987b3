"""Optional third-party integrations, each behind one small module that fails with a clear error."""
