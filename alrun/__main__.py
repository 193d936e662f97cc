"""``python -m alrun`` is the same as the ``alrun`` command."""

from alrun.entry import main

if __name__ == "__main__":
    main()
