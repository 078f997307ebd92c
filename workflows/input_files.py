"""Fetching a run's input images: which images a run reads (with the role its errors name), and downloading
one, where a missing image is the user's error and a failed transfer is retried."""

from __future__ import annotations

from pathlib import Path

from flytekit.core.context_manager import FlyteContextManager
from flytekit.exceptions.user import FlyteDataNotFoundException, FlyteRecoverableException
from flytekit.types.file import FlyteFile

from workflows import images
from workflows.engine.options import INIT_IMAGES


def image_inputs(
    content_img: FlyteFile, style_img: FlyteFile, more_styles: list[FlyteFile], init_image: str
) -> list[tuple[FlyteFile | str, str]]:
    """Every image a run reads, with the role its error messages name: the photo, the styles, the init image."""
    sources: list[tuple[FlyteFile | str, str]] = [(content_img, "content"), (style_img, "style")]
    sources += [(image, f"style {index + 2} (more_styles[{index}])") for index, image in enumerate(more_styles)]
    if init_image not in INIT_IMAGES:
        sources.append((init_image, "init"))
    return sources


def uri_of(image: FlyteFile | str) -> str:
    return image if isinstance(image, str) else str(image.remote_source or image.path)


def fetch(image: FlyteFile | str, role: str) -> str:
    """Download an input image (a FlyteFile input, or a URI or local path given as a string); a missing one is the
    user's error, a failed transfer is retried."""
    uri = uri_of(image)
    try:
        if isinstance(image, FlyteFile):
            return image.download()
        if "://" not in uri:
            if not Path(uri).is_file():
                raise images.ImageInputError(f"{role} image {uri}: not found")
            return uri
        access = FlyteContextManager.current_context().file_access
        local = access.get_random_local_path(Path(uri).name)
        access.get_data(uri, local)
        return local
    except images.ImageInputError:
        raise
    except FlyteDataNotFoundException:
        # flytekit also reports an unreachable server as "not found"; ask the store itself which it is.
        if is_missing(uri):
            raise images.ImageInputError(f"{role} image {uri}: not found") from None
        raise FlyteRecoverableException(f"{role} image {uri}: cannot be reached, will retry") from None
    except Exception as exc:  # flytekit wraps every transport failure in one system exception
        raise FlyteRecoverableException(f"{role} image {uri}: download failed, will retry ({exc})") from exc


def is_missing(uri: str) -> bool:
    """True only when the store answers that nothing is at ``uri``; False when it cannot be asked."""
    store = FlyteContextManager.current_context().file_access.get_filesystem_for_path(uri)
    try:
        store.info(uri)
    except FileNotFoundError as exc:
        # fsspec's HTTP store turns every failure into FileNotFoundError; a transport error underneath means unreachable.
        return not any(isinstance(link, OSError) and not isinstance(link, FileNotFoundError) for link in causes(exc))
    except Exception:
        return False
    return False


def causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    link = exc.__cause__ or exc.__context__
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain
