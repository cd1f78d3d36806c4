"""The repo's airflow/ folder must never shadow Apache Airflow (it has no __init__.py on purpose)."""

from pathlib import Path


def test_apache_airflow_is_the_installed_package_not_this_folder() -> None:
    import airflow
    from airflow.sdk import dag

    assert dag is not None
    assert "site-packages" in str(Path(airflow.__file__).resolve())
    assert not (Path(__file__).resolve().parents[1] / "__init__.py").exists()
