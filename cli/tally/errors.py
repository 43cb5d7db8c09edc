"""The one exception type whose message is shown to the user as a single line."""

import click


class TallyError(click.ClickException):
    """A failure the user can act on: printed as `Error: <message>`, exit status 1."""
