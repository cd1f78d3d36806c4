"""The result pages on the api-server (/hss): library.py reads the files, pages.py and charts.py draw them,
app.py serves them behind the Airflow UI's login. /hss/operations charts Prometheus' metrics instead
(operations.py: the panels; prometheus.py: the HTTP call). Imported only by the api-server (the plugin's
`fastapi_apps`), never by a task."""
