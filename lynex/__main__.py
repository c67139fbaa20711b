# freeze_support first: in the frozen binary a spawned worker re-runs this executable, and this call is
# what turns that run into the worker instead of a second CLI.
import multiprocessing

multiprocessing.freeze_support()

from lynex.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
