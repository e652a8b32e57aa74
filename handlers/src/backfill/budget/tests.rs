use proptest::prelude::*;

use super::*;

/// A run as the tick finds it: what its state says, the pages it still has to list, and per
/// page its new steps and the hints it would write.
#[derive(Debug, Clone)]
struct Run {
    tick: Tick,
    pages: u32,
    steps_per_page: usize,
    keys_per_page: usize,
}

fn run(tick: Tick, pages: u32, steps_per_page: usize, keys_per_page: usize) -> Run {
    Run {
        tick,
        pages,
        steps_per_page,
        keys_per_page,
    }
}

/// One tick as the shell runs it (`src/cron/backfill/`): the runs in turn, each within its
/// share, a page only when the budget lets it. Returns the operations made, each counted at its
/// worst, apart from the budget's own count, and the pages each run fetched.
fn tick(
    budget: &mut OperationBudget,
    runs: &mut [Run],
    max_pages: u32,
    scheduled_ms: i64,
) -> (u32, Vec<u32>) {
    let (mut made, mut fetched) = (0, vec![0; runs.len()]);
    let count = runs.len();
    for (turn, index) in turn_order(count, scheduled_ms).enumerate() {
        let mut share = budget.share(count - turn);
        let run = &mut runs[index];
        if share.open_run() {
            made += match run.tick {
                Tick::Wait => 1,
                Tick::Initialize => 2,
                Tick::Run => RUN_OPERATIONS,
            };
            share.close_run(run.tick);
            for _ in 0..max_pages {
                if run.tick != Tick::Run || run.pages == 0 || !share.next_page() {
                    break;
                }
                run.pages -= 1;
                fetched[index] += 1;
                let sent = share.steps_to_send(run.steps_per_page);
                let sends = u32::try_from(sent.div_ceil(STEPS_PER_SEND)).unwrap();
                made += PAGE_OPERATIONS + SEND_OPERATIONS * sends;
                made += u32::try_from(share.hint_puts(run.keys_per_page)).unwrap();
            }
        }
        budget.absorb(share);
    }
    (made, fetched)
}

#[test]
fn a_run_opens_only_when_a_page_can_follow_and_gives_back_what_it_did_not_use() {
    let mut budget = OperationBudget::new(RUN_AT_LEAST - 1);
    assert!(!budget.open_run(), "a frame without room for a page");
    assert_eq!(budget.spent(), 0, "nothing taken: the run stays due");
    let mut budget = OperationBudget::new(100);
    for (tick, used) in [(Tick::Wait, 1), (Tick::Initialize, 2), (Tick::Run, 5)] {
        let before = budget.spent();
        assert!(budget.open_run());
        assert_eq!(budget.spent() - before, RUN_OPERATIONS);
        budget.close_run(tick);
        assert_eq!(budget.spent() - before, used, "{tick:?}");
    }
}

#[test]
fn a_page_is_fetched_only_with_room_for_it_and_one_send() {
    let mut budget = OperationBudget::new(PAGE_OPERATIONS + PAGE_AT_LEAST - 1);
    assert!(budget.next_page());
    assert_eq!(
        budget.spent(),
        PAGE_OPERATIONS,
        "the send is taken when it is made"
    );
    assert!(!budget.next_page(), "{} left", budget.left());
    assert_eq!(budget.spent(), PAGE_OPERATIONS);
}

#[test]
fn steps_go_out_in_whole_sends_while_the_budget_lasts() {
    let mut budget = OperationBudget::new(7);
    assert_eq!(budget.steps_to_send(0), 0);
    assert_eq!(budget.spent(), 0, "no steps, no send");
    assert_eq!(budget.steps_to_send(250), 250, "three sends");
    assert_eq!(budget.spent(), 6);
    assert_eq!(
        budget.steps_to_send(150),
        0,
        "one operation left: no send, the steps stay pending for the sweeper"
    );
    let mut budget = OperationBudget::new(4);
    assert_eq!(budget.steps_to_send(450), 200, "the first two sends");
    assert_eq!(budget.left(), 0);
}

#[test]
fn hints_stay_within_the_invocation_and_leave_room_for_a_page() {
    let mut budget = OperationBudget::new(1_000);
    assert_eq!(budget.hint_puts(60), 60);
    assert_eq!(budget.hint_puts(60), 40, "100 an invocation");
    assert_eq!(budget.hint_puts(1), 0);
    assert_eq!(budget.spent(), 100);
    let mut small = OperationBudget::new(PAGE_AT_LEAST + 3);
    assert_eq!(small.hint_puts(50), 3, "never the room of the next page");
    let mut tick = OperationBudget::new(1_000);
    let mut share = tick.share(2);
    assert_eq!(share.hint_puts(70), 70);
    tick.absorb(share);
    assert_eq!(
        tick.share(1).hint_puts(70),
        30,
        "shares draw on one invocation's hints"
    );
}

#[test]
fn shares_split_what_is_left_and_pass_on_what_a_run_did_not_use() {
    let mut budget = OperationBudget::new(700);
    let mut first = budget.share(5);
    assert_eq!(first.left(), 140);
    assert!(first.open_run());
    first.close_run(Tick::Wait);
    budget.absorb(first);
    assert_eq!(budget.spent(), 1, "not due: its state read only");
    assert_eq!(
        budget.share(4).left(),
        174,
        "the rest goes to those after it"
    );
    let nearly_spent = OperationBudget::new(RUN_AT_LEAST * 3);
    assert_eq!(
        nearly_spent.share(10).left(),
        RUN_AT_LEAST,
        "a run and a page, not a tenth"
    );
    assert_eq!(
        OperationBudget::new(4).share(1).left(),
        4,
        "never more than left"
    );
}

#[test]
fn each_run_goes_first_in_turn() {
    let order = |runs, minute: i64| turn_order(runs, minute * 60_000).collect::<Vec<_>>();
    assert_eq!(order(3, 0), [0, 1, 2]);
    assert_eq!(order(3, 1), [1, 2, 0]);
    assert_eq!(order(3, 5), [2, 0, 1]);
    assert_eq!(order(0, 7), Vec::<usize>::new());
    assert_eq!(
        turn_order(2, 90_000).collect::<Vec<_>>(),
        [1, 0],
        "by the minute"
    );
    assert_eq!(turn_order(2, -1).collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn an_admin_run_stays_inside_its_invocation() {
    let mut budget = OperationBudget::admin_run();
    let mut pages = 0;
    while pages < MAX_PAGES && budget.next_page() {
        pages += 1;
        budget.steps_to_send(1_000);
        budget.hint_puts(100);
    }
    assert!(budget.spent() <= INVOCATION_OPERATIONS - ADMIN_REQUEST_OPERATIONS);
    assert_eq!(pages, 31, "pages of 1,000 new steps each");
}

#[test]
fn the_old_per_run_bound_did_not_hold_for_a_tick() {
    // Before: each run alone was held to 6 + 50 × 12 + 100 = 706 operations, so a Stripe
    // backfill and one shop's reconciliation due in the same tick could make 1,400.
    let (stripe, shop) = (run(Tick::Run, 60, 300, 100), run(Tick::Run, 60, 300, 0));
    let mut budget = OperationBudget::new(705);
    let (made, fetched) = tick(&mut budget, &mut [stripe, shop], MAX_PAGES, 0);
    assert!(made <= 705, "{made}");
    assert!(fetched.iter().all(|&pages| pages > 0 && pages < MAX_PAGES));
}

#[test]
fn no_run_waits_for_ever_behind_the_others() {
    // 60 shops with endless work: more than one tick can give a page each.
    let mut runs: Vec<Run> = (0..60).map(|_| run(Tick::Run, u32::MAX, 300, 0)).collect();
    let mut seen = vec![0; runs.len()];
    for minute in 0..60 {
        let (_, fetched) = tick(
            &mut OperationBudget::new(705),
            &mut runs,
            MAX_PAGES,
            minute * 60_000,
        );
        seen.iter_mut().zip(fetched).for_each(|(s, f)| *s += f);
    }
    assert!(seen.iter().all(|&pages| pages >= 30), "{seen:?}");
}

fn any_tick() -> impl Strategy<Value = Tick> {
    prop_oneof![Just(Tick::Wait), Just(Tick::Initialize), Just(Tick::Run)]
}

fn any_run() -> impl Strategy<Value = Run> {
    (any_tick(), 0u32..80, 0usize..2_000, 0usize..150)
        .prop_map(|(tick, pages, steps, keys)| run(tick, pages, steps, keys))
}

proptest! {
    #[test]
    fn a_tick_never_spends_more_than_its_budget(
        mut runs in prop::collection::vec(any_run(), 0..16),
        limit in 0u32..1_200,
        max_pages in 1u32..=MAX_PAGES,
        scheduled_ms in any::<i64>(),
    ) {
        let mut budget = OperationBudget::new(limit);
        let (made, _) = tick(&mut budget, &mut runs, max_pages, scheduled_ms);
        prop_assert!(made <= limit, "{} > {}", made, limit);
        prop_assert_eq!(made, budget.spent(), "the budget counts every operation made");
    }
}
