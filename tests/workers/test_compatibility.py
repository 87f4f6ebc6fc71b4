"""Two real Keras versions, the second without one of the first's inputs: recorded as breaking
when the workers describe it, `registry diff` exits 1 naming the input, the alias move is 409."""

from __future__ import annotations

from registry.testing import tf_samples
from tests.cli.invoke import registry_cli
from tests.workers.conftest import wait_for_version


def test_a_keras_version_dropping_an_input_breaks_diff_and_the_alias_move(
    converting_registry, worker, samples, model_name, tmp_path
):
    without_vec = tf_samples.BuiltOnDemand(tmp_path)["keras_without_vec"]
    for number, sample in enumerate((samples["keras"], without_vec), 1):
        converting_registry.upload(model_name, sample.path).raise_for_status()
        version = wait_for_version(converting_registry, model_name, number)
        assert version["status"] == "ready", (version["status_detail"], worker.log_tail())
    alias_url = converting_registry.api(f"/models/{model_name}/aliases/production")
    converting_registry.http.put(alias_url, json={"version": 1}).raise_for_status()

    diff = registry_cli(converting_registry, "diff", f"{model_name}@1", f"{model_name}@2")
    refused = converting_registry.http.put(alias_url, json={"version": 2})

    assert diff.exit_code == 1, diff.output
    assert "input 'vec' removed" in diff.stdout
    assert refused.status_code == 409
    assert "input 'vec' removed" in refused.json()["detail"]
    [recorded] = converting_registry.version(model_name, 2)["compatibility"]
    assert (recorded["version"], recorded["previous"], recorded["verdict"]) == (1, True, "breaking")
    assert recorded["breaking"] >= 1
