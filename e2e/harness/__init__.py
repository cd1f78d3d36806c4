"""The launcher shared by `make demo` (embedded profile) and the e2e stack (full profile)."""
