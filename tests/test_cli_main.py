import pytest

from quakesynth.cli.main import COMMANDS, main


def test_help_lists_example(capsys):
    from conftest import assert_help_has_example

    assert main(["--help"]) == 0
    assert_help_has_example(capsys.readouterr().out)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_has_an_example(capsys, command):
    """Every sub-command's --help ends with a runnable ``quakesynth <command> ...`` example."""
    from conftest import assert_help_has_example

    assert main([command, "--help"]) == 0
    assert_help_has_example(capsys.readouterr().out, command)


def test_help_example_check_fails_without_an_example():
    from conftest import assert_help_has_example

    with pytest.raises(AssertionError, match="no 'Example'"):
        assert_help_has_example("Usage: quakesynth ims [OPTIONS] DATASET", "ims")
    with pytest.raises(AssertionError, match="no example line"):
        assert_help_has_example("Example:\n  see the README", "ims")
    with pytest.raises(AssertionError, match="no example line"):
        assert_help_has_example("Example:\n  quakesynth generate -n 2 -o x.h5", "ims")


def test_unknown_command_is_an_error(capsys):
    assert main(["no-such-command"]) != 0
