"""The state of a local endpoint, as its state file holds it: the schema and its checks (pure).

`EndpointState.from_dict` checks the schema, so a damaged file is an error that names the field,
not a KeyError somewhere later. deploy.local.store keeps the files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SCHEMA = 1


class StateError(ValueError):
    pass


@dataclass
class InstanceRecord:
    container: str  # container id
    name: str  # container name
    port: int
    generation: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class EndpointState:
    name: str
    image: str
    model_data: str  # the archive it was started from
    model_dir: str  # where it was extracted (mounted read-only at /opt/ml/model)
    instance_count: int
    port: int  # the front's port
    token: str  # authorises the front's admin routes
    generation: int = 1
    front_pid: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    instances: list[InstanceRecord] = field(default_factory=list)
    created: float = 0.0
    updated: float = 0.0
    # An asynchronous endpoint's settings (deploy.async_inference.service.AsyncEndpointConfig); None
    # for a real-time endpoint.
    async_config: dict | None = None
    schema: int = SCHEMA
    # A multi-model endpoint (byoc local up --multi-model): models come from model_data_prefix (a
    # directory or an s3:// prefix) by each invocation's TargetModel, extracted into model_dir, which
    # every instance mounts at /opt/ml/models. model_cache is ModelCacheSetting: Enabled or Disabled.
    multi_model: bool = False
    model_data_prefix: str = ""
    model_cache: str = "Enabled"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> EndpointState:
        if not isinstance(data, dict):
            raise StateError("the state is not a JSON object")
        if data.get("schema") != SCHEMA:
            raise StateError(f"schema {data.get('schema')!r} is not {SCHEMA}")
        expected = {
            "name": str,
            "image": str,
            "model_data": str,
            "model_dir": str,
            "instance_count": int,
            "port": int,
            "token": str,
            "generation": int,
            "env": dict,
            "instances": list,
            "created": (int, float),
            "updated": (int, float),
        }
        for key, kind in expected.items():
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise StateError(f"field {key!r} is missing or not a {getattr(kind, '__name__', kind)}")
        pid = data.get("front_pid")
        if pid is not None and not isinstance(pid, int):
            raise StateError("field 'front_pid' is not an integer")
        instances = []
        for index, item in enumerate(data["instances"]):
            try:
                instances.append(
                    InstanceRecord(
                        container=str(item["container"]),
                        name=str(item["name"]),
                        port=int(item["port"]),
                        generation=int(item["generation"]),
                    )
                )
            except (TypeError, KeyError, ValueError) as exc:
                raise StateError(f"instances[{index}] is malformed: {exc!r}") from None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data["env"].items()):
            raise StateError("field 'env' must map strings to strings")
        async_config = data.get("async_config")
        if async_config is not None and not (
            isinstance(async_config, dict) and isinstance(async_config.get("output_path"), str)
        ):
            raise StateError("field 'async_config' is not an object with an output_path")
        # Written since multi-model endpoints: absent from older state files, which are single-model.
        multi_model = data.get("multi_model", False)
        prefix = data.get("model_data_prefix", "")
        cache = data.get("model_cache", "Enabled")
        if (
            not isinstance(multi_model, bool)
            or not isinstance(prefix, str)
            or cache not in ("Enabled", "Disabled")
        ):
            raise StateError("fields 'multi_model', 'model_data_prefix' or 'model_cache' are malformed")
        return cls(
            name=data["name"],
            image=data["image"],
            model_data=data["model_data"],
            model_dir=data["model_dir"],
            instance_count=data["instance_count"],
            port=data["port"],
            token=data["token"],
            generation=data["generation"],
            front_pid=pid,
            env=dict(data["env"]),
            instances=instances,
            created=float(data["created"]),
            updated=float(data["updated"]),
            async_config=async_config,
            multi_model=multi_model,
            model_data_prefix=prefix,
            model_cache=cache,
        )
