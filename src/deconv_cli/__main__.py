"""python -m deconv_cli: the same as the deconv command."""

from .cli import main

if __name__ == "__main__":
    main()
