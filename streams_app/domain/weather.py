"""Plausible weather for a city: a daily temperature curve plus noise, humidity moving against it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400

# Every value a reading can take, formatted once: formatting floats per reading would cost
# more than Redis takes to store it.
_TENTHS = {tenths: f"{tenths / 10:.1f}" for tenths in range(-900, 601)}
_TENTHS[0] = "0.0"
_PERCENT = [str(percent) for percent in range(101)]


@dataclass(frozen=True, slots=True)
class Climate:
    mean_temperature: float = 28.0  # °C, a warm coastal city like the tutorial's Chennai
    daily_swing: float = 4.5  # half the gap between the night's low and the afternoon's high
    mean_humidity: float = 70.0  # %
    humidity_per_degree: float = 3.0  # humidity drops as the day warms
    noise: float = 0.15


def simulated_weather(
    count: int,
    *,
    climate: Climate = Climate(),
    start_second: float = 0.0,
    interval_seconds: float = 1.0,
    seed: int | None = None,
) -> dict[str, list[str]]:
    """`count` readings as columns by measurement name (temperatures to 0.1 °C, humidities to
    1 %), one reading per `interval_seconds`, the first `start_second` seconds after midnight.
    Lowest around 03:00, highest around 15:00."""
    uniform = random.Random(seed).random  # centred uniform noise: far cheaper than gauss, as plausible
    sin = math.sin
    tenths, percent = _TENTHS, _PERCENT
    mean_t, swing = climate.mean_temperature, climate.daily_swing
    mean_h, per_degree = climate.mean_humidity, climate.humidity_per_degree
    walk_step, jitter_t, jitter_h = climate.noise * 0.7, climate.noise * 3.5, climate.noise * 14
    radians_per_step = 2 * math.pi / SECONDS_PER_DAY * interval_seconds
    phase = 2 * math.pi / SECONDS_PER_DAY * start_second - 0.75 * math.pi
    temperatures: list[str] = []
    humidities: list[str] = []
    add_t, add_h = temperatures.append, humidities.append
    drift = 0.0
    for index in range(count):
        # A slow random walk (weather) around the daily curve (climate), pulled back to it.
        drift = 0.999 * drift + (uniform() - 0.5) * walk_step
        temperature = mean_t + swing * sin(phase + index * radians_per_step) + drift + (uniform() - 0.5) * jitter_t
        humidity = mean_h - per_degree * (temperature - mean_t) + (uniform() - 0.5) * jitter_h
        t10 = int(temperature * 10 + 10000.5) - 10000
        add_t(tenths[-900 if t10 < -900 else 600 if t10 > 600 else t10])
        h = int(humidity + 0.5)
        add_h(percent[0 if h < 0 else 100 if h > 100 else h])
    return {"temperature": temperatures, "humidity": humidities}
