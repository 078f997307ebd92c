# The Flyte task image: workflows code, pinned requirements and the ImageNet VGG19
# weights baked in, so pods never download anything at run time.
#
#   docker build -t REGISTRY/nst-task:TAG --build-arg tag=REGISTRY/nst-task:TAG .
#   GPU image: add --build-arg TENSORFLOW_PACKAGE="tensorflow[and-cuda]==2.21.0"
FROM python:3.11-slim-bookworm

WORKDIR /root
ENV VENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/root \
    PYTHONUNBUFFERED=1 \
    KERAS_HOME=/opt/keras \
    TF_CPP_MIN_LOG_LEVEL=2

RUN python -m venv "$VENV"
COPY requirements.txt /root/requirements.txt
ARG TENSORFLOW_PACKAGE=""
RUN pip install --no-cache-dir -r /root/requirements.txt \
    && if [ -n "$TENSORFLOW_PACKAGE" ]; then \
         pip uninstall -y tensorflow-cpu && pip install --no-cache-dir "$TENSORFLOW_PACKAGE"; \
       fi

# Keras' own download-and-cache of the notop weights (checked against Keras' pinned hash),
# into $KERAS_HOME/models: the same path NST_VGG19_WEIGHTS=imagenet reads at run time.
RUN python -c "import keras; keras.applications.VGG19(include_top=False, weights='imagenet')" \
    && test -s /opt/keras/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5

COPY workflows /root/workflows

# flytekit's convention: the image a task was registered with, for tasks started from it.
ARG tag=""
ENV FLYTE_INTERNAL_IMAGE=$tag
