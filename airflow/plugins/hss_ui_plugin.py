"""The `hss_ui` plugin: the song analyses and training runs as pages of the Airflow UI.

`/hss/songs`, `/hss/songs/{song_id}`, `/hss/training`, `/hss/training/{training_id}` and `/hss/operations`
on the api-server, behind the UI's login (hss_airflow.web.app), and the nav entries "Song analyses" and
"Operations". Every Airflow process imports this file, so it stays small: the app is imported only where
`fastapi_apps` is read (the api-server).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class HssUiPlugin(AirflowPlugin):
    name = "hss_ui"
    external_views = [
        {
            "name": "Song analyses",
            "href": "hss/songs",  # shown in the UI's frame; relative to the UI's base URL
            "url_route": "song-analyses",  # the UI route /plugin/song-analyses
            "destination": "nav",
            "nav_top_level": True,
        },
        {
            "name": "Operations",  # the stack's metrics from Prometheus (hss_airflow.web.operations)
            "href": "hss/operations",
            "url_route": "operations",  # the UI route /plugin/operations
            "destination": "nav",
            "nav_top_level": True,
        },
    ]

    @property
    def fastapi_apps(self) -> list[dict]:  # type: ignore[override]
        from hss_airflow.web.app import served_app

        return [{"app": served_app(), "url_prefix": "/hss", "name": "HSS song analyses"}]
