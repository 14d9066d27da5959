# ringmux container image: a multi-stage build on Debian 12.
#   docker build -t ringmux .
#   docker run --rm -p 6033:6033 -p 6080:6080 \
#     -e RINGMUX_BACKEND=db.internal:3306 -e RINGMUX_USERS=app -e RINGMUX_PASSWORD_APP=... ringmux
# Configuration: a mounted /etc/ringmux/ringmux.ini (and secrets file), or
# environment variables alone (see scripts/docker-entrypoint.sh).

FROM debian:12.8 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
      liburing-dev libwolfssl-dev libmariadb-dev libinih-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY include ./include
COPY src ./src
COPY bench ./bench
COPY docs/man ./docs/man
COPY etc ./etc
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DRINGMUX_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build /build -j"$(nproc)" \
 && DESTDIR=/out cmake --install /build

FROM debian:12.8-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends liburing2 libwolfssl35 libmariadb3 libinih1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ringmux \
 && useradd --system --uid 10001 --gid ringmux --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin ringmux \
 && install -d -o ringmux -g ringmux -m 0750 /run/ringmux
COPY --from=build /out/usr/bin/ringmux /usr/bin/ringmux
COPY --from=build /out/usr/share/man /usr/share/man
COPY --from=build /out/usr/share/doc/ringmux /usr/share/doc/ringmux
COPY scripts/docker-entrypoint.sh /usr/bin/ringmux-entrypoint
USER 10001:10001
EXPOSE 6033 6080
# /readyz answers 503 until a writer is reachable; probes belong to the
# orchestrator (deploy/), which can reach the admin port.
ENTRYPOINT ["/usr/bin/ringmux-entrypoint"]
