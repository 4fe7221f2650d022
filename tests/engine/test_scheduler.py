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
