"""``python -m vae_lab`` is ``vae-lab``."""

from vae_lab.cli import main

if __name__ == "__main__":
    main()
