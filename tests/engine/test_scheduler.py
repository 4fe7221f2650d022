import pytest
import torch

from live2diff_broadcast.engine.scheduler import StreamSchedule, live2diff_scheduler


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
