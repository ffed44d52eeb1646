"""python -m deconv_cli: the same as the deconv command.

Nothing is imported unless run as the main module: a batch's worker processes (spawned, so they
import the parent's main module under another name) then skip Typer and the commands."""

if __name__ == "__main__":
    from . import main

    main()
