from quakesynth.cli.main import main


def test_help_lists_example(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and "quakesynth" in out


def test_unknown_command_is_an_error(capsys):
    assert main(["no-such-command"]) != 0
