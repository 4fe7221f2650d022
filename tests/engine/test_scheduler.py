import pytest
import torch
from diffusers import LCMScheduler

from live2diff_broadcast.engine.scheduler import (
    LIVE2DIFF_SCHEDULER_CONFIG,
    StreamSchedule,
    live2diff_scheduler,
)


def test_timesteps_follow_the_50_step_lcm_schedule():
    sched = StreamSchedule(live2diff_scheduler(), (30, 36, 42), 50, torch.device("cpu"), torch.float64)
    assert sched.timesteps.tolist() == [999 - 20 * 30, 999 - 20 * 36, 999 - 20 * 42]


def test_denoise_equals_diffusers_lcm_step_on_its_last_step():
    scheduler = live2diff_scheduler()
    ours = StreamSchedule(scheduler, (30, 40), 50, torch.device("cpu"), torch.float64)
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(2, 4, 8, 8, generator=g, dtype=torch.float64), torch.randn(2, 4, 8, 8, generator=g, dtype=torch.float64)
    batched = ours.denoise(x, eps, slice(0, 2))
    for row, t in enumerate(ours.timesteps.tolist()):
        ref = live2diff_scheduler()
        ref.set_timesteps(50)
        ref._step_index = ref.timesteps.tolist().index(t)
        out = ref.step(eps[row : row + 1].float(), t, x[row : row + 1].float())
        assert torch.allclose(batched[row : row + 1].float(), out.denoised, atol=1e-5)


def test_add_noise_matches_alphas():
    scheduler = live2diff_scheduler()
    ours = StreamSchedule(scheduler, (30,), 50, torch.device("cpu"), torch.float64)
    a = scheduler.alphas_cumprod[int(ours.timesteps[0])].double()
    x0, noise = torch.ones(1, 4, 2, 2, dtype=torch.float64), torch.zeros(1, 4, 2, 2, dtype=torch.float64)
    assert torch.allclose(ours.add_noise(x0, noise, 0), a.sqrt() * x0)


@pytest.mark.parametrize("t_index_list", [(0,), (0, 10, 25, 40, 49), (30, 36, 42), (5, 45)])
def test_add_noise_equals_diffusers_lcm_add_noise_with_real_noise(t_index_list):
    """An oracle outside our code: diffusers' own LCMScheduler.add_noise, real (non-zero) noise and
    clean latents, every step alone and all rows at once (each row at its own step)."""
    ours = StreamSchedule(live2diff_scheduler(), t_index_list, 50, torch.device("cpu"), torch.float64)
    reference = live2diff_scheduler()
    n = len(t_index_list)
    g = torch.Generator().manual_seed(7)
    x0 = torch.randn(n, 4, 8, 8, generator=g, dtype=torch.float64)
    noise = torch.randn(n, 4, 8, 8, generator=g, dtype=torch.float64)
    expected = reference.add_noise(x0, noise, ours.timesteps)  # (n, 4, 8, 8), row s at timestep s
    torch.testing.assert_close(ours.add_noise(x0, noise, slice(0, n)), expected, rtol=0, atol=1e-12)
    for s in range(n):
        torch.testing.assert_close(ours.add_noise(x0[s], noise[s], s), expected[s], rtol=0, atol=1e-12)
    # the noise really is in it: a pure-signal or pure-noise mix would differ by far more than that
    assert (expected - reference.add_noise(x0, torch.zeros_like(noise), ours.timesteps)).abs().max() > 0.1


def test_add_noise_then_denoise_with_the_true_noise_recovers_the_clean_latents_at_the_boundary():
    """x_t = sqrt(a) x0 + sqrt(1 - a) eps, and the LCM output given the true eps is
    c_out x0 + c_skip x_t (diffusers' boundary scalings), for every step."""
    scheduler = live2diff_scheduler()
    ours = StreamSchedule(scheduler, (0, 20, 45), 50, torch.device("cpu"), torch.float64)
    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(3, 4, 4, 4, generator=g, dtype=torch.float64), torch.randn(3, 4, 4, 4, generator=g, dtype=torch.float64)
    x_t = ours.add_noise(x0, eps, slice(0, 3))
    out = ours.denoise(x_t, eps, slice(0, 3))
    for s, t in enumerate(ours.timesteps.tolist()):
        c_skip, c_out = scheduler.get_scalings_for_boundary_condition_discrete(t)
        torch.testing.assert_close(out[s], float(c_out) * x0[s] + float(c_skip) * x_t[s], rtol=0, atol=1e-10)


def test_coefficients_are_diffusers_own_in_full_precision_and_in_the_streams_dtype():
    scheduler = live2diff_scheduler()
    ours = StreamSchedule(scheduler, (0, 20, 45), 50, torch.device("cpu"), torch.float64)
    scalings = [scheduler.get_scalings_for_boundary_condition_discrete(t) for t in ours.timesteps.tolist()]
    assert ours.c_skip.flatten().tolist() == [float(c_skip) for c_skip, _ in scalings]
    assert ours.c_out.flatten().tolist() == [float(c_out) for _, c_out in scalings]
    assert ours.num_steps == 3
    half = StreamSchedule(live2diff_scheduler(), (0, 20, 45), 50, torch.device("cpu"), torch.float32)
    assert {t.dtype for t in (half.sqrt_alpha, half.sqrt_one_minus_alpha, half.c_skip, half.c_out)} == {torch.float32}
    x = torch.ones(3, 4, 2, 2)
    assert half.add_noise(x, x, slice(0, 3)).dtype == half.denoise(x, x, slice(0, 3)).dtype == torch.float32


def test_a_non_epsilon_scheduler_is_refused_by_name():
    scheduler = LCMScheduler(**{**LIVE2DIFF_SCHEDULER_CONFIG, "prediction_type": "v_prediction"})
    with pytest.raises(ValueError, match="expected an epsilon-prediction scheduler, got 'v_prediction'"):
        StreamSchedule(scheduler, (30,), 50, torch.device("cpu"), torch.float64)


@pytest.mark.parametrize("guidance", [1.0, 1.7])
@pytest.mark.parametrize("t_index_list", [(35,), (30, 40), (25, 34, 43, 47)])
def test_sample_is_lcm_multistep_sampling_written_out_by_hand(t_index_list, guidance):
    """``sample`` against the formulas with diffusers' alphas and scalings: x = sqrt(a) x0 + sqrt(1 - a) n,
    per step the consistency output c_out (x - sqrt(1 - a) eps) / sqrt(a) + c_skip x, re-noised with the
    next step's noise; eps sees each step's x in order, noise(s) is asked for s = 0..n-1 once each.
    With guidance g the prediction is n + g (eps - n), n being the noise that step's x was made with."""
    scheduler = live2diff_scheduler()
    ours = StreamSchedule(scheduler, t_index_list, 50, torch.device("cpu"), torch.float64)
    n = len(t_index_list)
    g = torch.Generator().manual_seed(11)
    x0 = torch.randn(2, 4, 4, 4, generator=g, dtype=torch.float64)
    noises = torch.randn(n, 2, 4, 4, 4, generator=g, dtype=torch.float64)
    asked: list[int] = []
    seen: list[tuple[int, torch.Tensor]] = []

    def noise(s: int) -> torch.Tensor:
        asked.append(s)
        return noises[s]

    def eps(s: int, x: torch.Tensor) -> torch.Tensor:
        seen.append((s, x))
        return 0.5 * x + 0.1 * s  # any function of the step and the latents

    out = ours.sample(x0, noise, eps, guidance)
    expected = x0
    for s, t in enumerate(ours.timesteps.tolist()):
        a = scheduler.alphas_cumprod[t].double()
        x = a.sqrt() * expected + (1 - a).sqrt() * noises[s]
        torch.testing.assert_close(seen[s][1], x, rtol=0, atol=1e-12)
        c_skip, c_out = scheduler.get_scalings_for_boundary_condition_discrete(t)
        e = 0.5 * x + 0.1 * s
        e = noises[s] + guidance * (e - noises[s])
        expected = float(c_out) * (x - (1 - a).sqrt() * e) / a.sqrt() + float(c_skip) * x
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)
    assert [s for s, _ in seen] == list(range(n)) and sorted(asked) == list(range(n))
