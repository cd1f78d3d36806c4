"""End-to-end harness: launches services and Airflow as processes (and, later, the compose stack)."""
