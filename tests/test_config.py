"""Config precedence (defaults < file < env < flags) and errors that say how to fix them."""

import dataclasses

import pytest

from lynex.config import SETTINGS, Config, load_config
from lynex.errors import ConfigError


def test_precedence(tmp_path):
    cfg = tmp_path / "lynex.toml"
    cfg.write_text('port = 9000\nhost = "0.0.0.0"\nmax_batch_spans = 50\n')
    config = load_config({"port": 9100}, cfg, environ={"LYNEX_HOST": "127.0.0.2", "LYNEX_PORT": "9050"})
    assert config.port == 9100           # flag beats env and file
    assert config.host == "127.0.0.2"    # env beats file
    assert config.max_batch_spans == 50  # file beats default
    assert config.demo is False


def test_env_only_and_lynex_section(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[lynex]\ndemo = true\n")
    config = load_config({}, environ={"LYNEX_CONFIG": str(cfg), "LYNEX_DATA_DIR": str(tmp_path / "d")})
    assert config.demo is True and config.data_dir == tmp_path / "d"


@pytest.mark.parametrize("flags,env,needle", [
    ({"port": 70000}, {}, "port must be between"),
    ({}, {"LYNEX_PORT": "eighty"}, "LYNEX_PORT"),
    ({}, {"LYNEX_DEMO": "maybe"}, "LYNEX_DEMO"),
    ({"max_body_bytes": 0}, {}, "max_body_bytes"),
    ({"log_level": "loud"}, {}, "log_level"),
    ({"duckdb_memory_limit": "lots"}, {}, "duckdb_memory_limit.*512MB"),
    ({"duckdb_memory_limit": "128MB", "buffer_max_bytes": 256 << 20}, {}, "at least buffer_max_bytes"),
])
def test_errors_name_the_setting(flags, env, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(flags, environ=env)


def test_unknown_file_setting_lists_known_ones(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'.*port"):
        load_config({}, cfg, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({}, tmp_path / "missing.toml", environ={})


def test_settings_table_matches_config_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(Config)}
    for setting in SETTINGS:
        expected = fields[setting.name]
        assert str(expected) == str(setting.default), setting.name
    assert set(fields) - {"cold_locations"} == {s.name for s in SETTINGS}


def test_cold_locations_from_file_and_env(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[cold.eu]\nbucket = "lynex-eu"\nendpoint = "http://127.0.0.1:9000"\n'
                   '[cold.us]\nbucket = "lynex-us"\nregion = "us-west-2"\npath_style = false\n')
    config = load_config({}, cfg, environ={"LYNEX_COLD_EU_SECRET_KEY": "s3cr3t"})
    eu, us = config.find_cold_location("eu"), config.find_cold_location("us")
    assert (eu.bucket, eu.endpoint, eu.secret_key) == ("lynex-eu", "http://127.0.0.1:9000", "s3cr3t")
    assert (us.region, us.path_style) == ("us-west-2", False)
    assert "s3cr3t" not in repr(config)
    with pytest.raises(ConfigError, match="no cold storage location named 'apac'"):
        config.find_cold_location("apac")
    cfg.write_text('[cold.eu]\nendpoint = "x"\n')
    with pytest.raises(ConfigError, match=r"\[cold.eu\]: bucket is required"):
        load_config({}, cfg, environ={})


def test_readme_configuration_table_is_current():
    from pathlib import Path

    from typer.testing import CliRunner

    from lynex.cli import app

    table = CliRunner().invoke(app, ["settings", "--markdown"]).output.strip()
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert table in readme, "README configuration table is stale: paste `lynex settings --markdown`"


def test_memory_sizes_read_as_duckdb_reads_them():
    from lynex.config import memory_size

    assert memory_size("512MB", "x") == 512_000_000 and memory_size("1GiB", "x") == 1 << 30
    assert memory_size(" 1.5 gb ", "x") == 1_500_000_000 and memory_size("4096", "x") == 4096
