"""The one exception type of deconv."""


class DeconvError(Exception):
    """Something the user can fix: bad parameters, a bad file, a refused write.

    The message is one line and names what was wrong, where, and what to do.
    ``usage`` is True when the mistake is in the arguments themselves (the CLI
    exits 2 for those) and False for failures met while running (exit 1).
    """

    def __init__(self, message: str, *, usage: bool = False):
        super().__init__(message)
        self.usage = usage


def one_line(text: object) -> str:
    """A message (Pillow's, pypng's, numpy's, the OS's) on one line, without a trailing full stop.

    >>> one_line("bad  thing\\n happened.")
    'bad thing happened'
    """
    return " ".join(str(text).split()).rstrip(".")
