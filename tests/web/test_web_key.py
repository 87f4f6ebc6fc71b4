"""The key signing sign-in cookies when no REGISTRY_WEB_SECRET_KEY is set."""

from __future__ import annotations

import stat

from registry.settings import Settings
from registry.web.signin import web_key


def test_without_a_setting_the_key_is_made_once_in_the_data_dir_mode_0600(tmp_path):
    settings = Settings(data_dir=tmp_path)

    first, again = web_key(settings), web_key(settings)

    assert first == again
    assert len(first) >= 40
    assert stat.S_IMODE((tmp_path / "web.key").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["web.key"]
    assert web_key(settings.with_changes(web_secret_key="configured")) == "configured"
