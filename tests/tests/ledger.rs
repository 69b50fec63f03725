//! The credit ledger against a reference model (`proptest-state-machine`), on SQLite and
//! on DynamoDB (moto server, through the fault proxy so writes lose their answers):
//! grants (some effective later), reserve, settle (partial), void, expiry, duplicate
//! transfers, suspension, crashes (the store reopened as a new process would) and lost
//! answers (the call sent again, as a redelivered step would). After every operation the
//! ledger sums to zero, available is at least zero and equals the model's, and the
//! answer is the model's (a duplicate answers the first result); at the end of each case
//! every reservation resolved at most once, in the way the model says, and the posted
//! amounts add up. Grant expiry (forfeits) is covered by the ledger's unit tests in
//! `aos_core::credits`, the model here keeps to grants without one.
//!
//! Then 10,000 random operations from 16 tasks at once on one tenant's SQLite ledger: the
//! invariants hold on the book read after every one, and at the end the book agrees with
//! its transfers. (Not on moto server: it does not apply an update to an item atomically
//! under concurrent writers, as DynamoDB does, so its books drift under that load.)

use aos_core::credits::{
    Account, Cause, GrantKind, GrantSpec, LedgerError, Millicredits, PendingState, Transfer, TransferId, TransferKind,
    MAX_AMOUNT,
};
use aos_core::TenantId;
use aos_runtime::ports::{CreditError, CreditResult, CreditStore};
use aos_tests::faults::{Fault, FaultProxy};
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, OnceLock};

/// The clock both the model and the ledger start from.
const T0: u64 = 1_800_000_000_000;
/// How long a reservation holds.
const HOLD: u64 = 10_000;
/// Reservations (and their causes) a case draws from.
const CAUSES: u8 = 8;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
});

fn cause(c: u8) -> Cause {
    Cause { run: format!("run-{c}"), step: u32::from(c % 3), attempt: 0 }
}

fn reserve_id(c: u8) -> TransferId {
    TransferId::derive(&cause(c), TransferKind::Reserve)
}

fn spec(id: u8, amount: u64, delay: u64) -> GrantSpec {
    GrantSpec {
        id: format!("g{id}"),
        kind: if id.is_multiple_of(2) { GrantKind::Paid } else { GrantKind::Promotional },
        amount: Millicredits(amount),
        effective_ms: T0 + delay,
        expires_ms: None,
        priority: 0,
    }
}

/// One operation on the ledger.
#[derive(Debug, Clone, Copy)]
enum Op {
    Grant {
        id: u8,
        amount: u64,
        delay: u64,
    },
    Reserve {
        cause: u8,
        amount: u64,
    },
    /// Settle for `amount` (0 voids).
    Settle {
        cause: u8,
        amount: u64,
    },
    Expire,
    Advance(u64),
    Suspend(bool),
    /// The store reopened, as after a crash of the process.
    Crash,
    /// The next write's answer is lost on the wire (DynamoDB; a crash on SQLite).
    LoseAnswer,
}

/// What the model says the ledger answers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// A transfer: its id, kind, amount and (a reservation's) state now.
    Transfer(String, TransferKind, u64, Option<PendingState>),
    /// A refusal, by the error's name.
    Refused(&'static str),
    /// This many reservations expired.
    Expired(u32),
    /// Success without a transfer to compare.
    Done,
}

fn refusal(e: &LedgerError) -> &'static str {
    match e {
        LedgerError::BadAmount(_) => "bad_amount",
        LedgerError::Insufficient { .. } => "insufficient",
        LedgerError::Suspended => "suspended",
        LedgerError::OverSettle { .. } => "over_settle",
        LedgerError::Resolved { .. } => "resolved",
        LedgerError::NotDue(_) => "not_due",
        LedgerError::Unknown(_) => "unknown",
        LedgerError::IdTaken(_) => "id_taken",
        LedgerError::BadGrant(_) => "bad_grant",
    }
}

fn bad(amount: u64) -> bool {
    amount == 0 || amount > MAX_AMOUNT
}

/// How a reservation stands in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    Pending,
    Posted(u64),
    Voided,
    Expired,
}

/// The reference model: what was granted and when it takes effect, what is reserved and
/// how each reservation resolved.
#[derive(Debug, Clone)]
struct Model {
    now: u64,
    grants: BTreeMap<u8, (u64, u64)>,
    reservations: BTreeMap<u8, (u64, u64, Res)>,
    suspended: bool,
    posted: u64,
    last: Expect,
}

impl Model {
    fn granted(&self) -> u64 {
        self.grants.values().filter(|(_, delay)| T0 + delay <= self.now).map(|(a, _)| a).sum()
    }

    fn reserved(&self) -> u64 {
        self.reservations.values().filter(|r| r.2 == Res::Pending).map(|r| r.0).sum()
    }

    fn available(&self) -> u64 {
        self.granted() - self.posted - self.reserved()
    }

    fn state(res: Res) -> PendingState {
        match res {
            Res::Pending => PendingState::Pending,
            Res::Posted(_) => PendingState::Posted,
            Res::Voided => PendingState::Voided,
            Res::Expired => PendingState::Expired,
        }
    }

    fn step(&mut self, op: &Op) -> Expect {
        match *op {
            Op::Grant { id, amount, delay } => {
                if bad(amount) {
                    return Expect::Refused("bad_amount");
                }
                match self.grants.get(&id) {
                    Some(&(a, d)) if (a, d) == (amount, delay) => Expect::Done,
                    Some(_) => Expect::Refused("id_taken"),
                    None => {
                        self.grants.insert(id, (amount, delay));
                        Expect::Done
                    }
                }
            }
            Op::Reserve { cause, amount } => {
                let id = reserve_id(cause).0;
                if bad(amount) {
                    return Expect::Refused("bad_amount");
                }
                if let Some(&(a, _, res)) = self.reservations.get(&cause) {
                    return Expect::Transfer(id, TransferKind::Reserve, a, Some(Self::state(res)));
                }
                if self.suspended {
                    return Expect::Refused("suspended");
                }
                if amount > self.available() {
                    return Expect::Refused("insufficient");
                }
                self.reservations.insert(cause, (amount, self.now + HOLD, Res::Pending));
                Expect::Transfer(id, TransferKind::Reserve, amount, Some(PendingState::Pending))
            }
            Op::Settle { cause, amount } => {
                let id = reserve_id(cause);
                let Some(&(reserved, _, res)) = self.reservations.get(&cause) else {
                    return Expect::Refused("unknown");
                };
                let post = TransferId::following(&id, TransferKind::Post).0;
                let void = TransferId::following(&id, TransferKind::Void).0;
                match res {
                    Res::Pending if amount == 0 => {
                        self.reservations.get_mut(&cause).expect("held").2 = Res::Voided;
                        Expect::Transfer(void, TransferKind::Void, reserved, None)
                    }
                    Res::Pending if bad(amount) => Expect::Refused("bad_amount"),
                    Res::Pending if amount > reserved => Expect::Refused("over_settle"),
                    Res::Pending => {
                        self.reservations.get_mut(&cause).expect("held").2 = Res::Posted(amount);
                        self.posted += amount;
                        Expect::Transfer(post, TransferKind::Post, amount, None)
                    }
                    Res::Posted(a) if a == amount => Expect::Transfer(post, TransferKind::Post, a, None),
                    Res::Voided if amount == 0 => Expect::Transfer(void, TransferKind::Void, reserved, None),
                    _ => Expect::Refused("resolved"),
                }
            }
            Op::Expire => {
                let now = self.now;
                let mut n = 0;
                for r in self.reservations.values_mut() {
                    if r.2 == Res::Pending && r.1 <= now {
                        r.2 = Res::Expired;
                        n += 1;
                    }
                }
                Expect::Expired(n)
            }
            Op::Advance(ms) => {
                self.now += ms;
                Expect::Done
            }
            Op::Suspend(s) => {
                self.suspended = s;
                Expect::Done
            }
            Op::Crash | Op::LoseAnswer => Expect::Done,
        }
    }
}

fn amount() -> BoxedStrategy<u64> {
    prop_oneof![
        8 => 1u64..4_000,
        1 => Just(0u64),
        1 => Just(MAX_AMOUNT + 1),
    ]
    .boxed()
}

impl ReferenceStateMachine for Model {
    type State = Self;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Self> {
        Just(Self {
            now: T0,
            grants: BTreeMap::new(),
            reservations: BTreeMap::new(),
            suspended: false,
            posted: 0,
            last: Expect::Done,
        })
        .boxed()
    }

    fn transitions(_: &Self) -> BoxedStrategy<Op> {
        prop_oneof![
            3 => (0u8..4, prop_oneof![Just(5_000u64), Just(20_000u64), Just(0u64)], prop_oneof![Just(0u64), Just(15_000u64)])
                .prop_map(|(id, amount, delay)| Op::Grant { id, amount: if amount == 0 { 0 } else { amount * u64::from(id + 1) }, delay }),
            6 => (0..CAUSES, amount()).prop_map(|(cause, amount)| Op::Reserve { cause, amount }),
            5 => (0..CAUSES, prop_oneof![2 => Just(0u64), 6 => 1u64..4_000, 1 => Just(MAX_AMOUNT + 1)])
                .prop_map(|(cause, amount)| Op::Settle { cause, amount }),
            1 => Just(Op::Expire),
            2 => prop_oneof![Just(1u64), Just(4_000u64), Just(HOLD)].prop_map(Op::Advance),
            1 => any::<bool>().prop_map(Op::Suspend),
            1 => Just(Op::Crash),
            1 => Just(Op::LoseAnswer),
        ]
        .boxed()
    }

    fn apply(mut state: Self, op: &Op) -> Self {
        state.last = state.step(op);
        state
    }
}

type Fut<R> = std::pin::Pin<Box<dyn std::future::Future<Output = CreditResult<R>> + Send>>;

/// Where a case's ledger lives.
enum Place {
    Sqlite(tempfile::TempDir),
    Dynamo,
}

/// The ledger under test and what it takes to reopen it.
struct Sut {
    store: Option<Arc<dyn CreditStore>>,
    tenant: TenantId,
    place: Place,
}

/// The DynamoDB side: one table for every case (a tenant per case), reached through a
/// fault proxy in front of moto server.
struct Dynamo {
    proxy: FaultProxy,
    table: String,
}

static DYNAMO: OnceLock<Dynamo> = OnceLock::new();

fn dynamo() -> &'static Dynamo {
    DYNAMO.get_or_init(|| {
        RT.block_on(async {
            let emulator = aos_tests::backends::emulator_endpoint();
            let conf = aos_tests::backends::sdk_config_at(&emulator).await;
            let table = format!("aos-ledger-{}", uuid::Uuid::new_v4().simple());
            aos_aws::create_table(&aws_sdk_dynamodb::Client::new(&conf), &table).await.expect("create table");
            Dynamo { proxy: FaultProxy::start(&emulator).await, table }
        })
    })
}

fn open_dynamo() -> Arc<dyn CreditStore> {
    let d = dynamo();
    let conf = RT.block_on(aos_tests::backends::sdk_config_at(&d.proxy.endpoint()));
    Arc::new(aos_aws::DynamoCredits::new(aws_sdk_dynamodb::Client::new(&conf), &d.table))
}

fn open_sqlite(dir: &std::path::Path) -> Arc<dyn CreditStore> {
    let db = aos_embedded::Db::open(dir, aos_embedded::Durability::Full).expect("open the data directory");
    Arc::new(aos_embedded::EmbeddedCredits::new(db))
}

fn new_tenant() -> TenantId {
    TenantId::parse(format!("ten_ledger{}", &uuid::Uuid::new_v4().simple().to_string()[..12])).expect("tenant id")
}

impl Sut {
    fn store(&self) -> &Arc<dyn CreditStore> {
        self.store.as_ref().expect("an open store")
    }

    fn reopen(&mut self) {
        self.store = None;
        self.store = Some(match &self.place {
            Place::Sqlite(dir) => open_sqlite(dir.path()),
            Place::Dynamo => open_dynamo(),
        });
    }

    /// Runs `call`, again while the store fails (a lost answer, a dropped connection):
    /// what a redelivered step does.
    fn call<R>(&self, call: impl Fn(Arc<dyn CreditStore>) -> Fut<R>) -> CreditResult<R> {
        let mut last = None;
        for _ in 0..5 {
            match RT.block_on(call(Arc::clone(self.store()))) {
                Err(CreditError::Store(e)) => last = Some(e),
                answer => return answer,
            }
        }
        panic!("the ledger kept failing: {last:?}");
    }
}

/// Compares a ledger answer with the model's.
fn compare<T>(answer: CreditResult<T>, want: &Expect, what: impl FnOnce(T) -> Expect, op: &Op) {
    let got = match answer {
        Ok(t) => what(t),
        Err(CreditError::Refused(e)) => Expect::Refused(refusal(&e)),
        Err(CreditError::Store(e)) => panic!("{op:?}: the store failed: {e}"),
    };
    assert_eq!(&got, want, "{op:?}: the ledger answered otherwise than the model");
}

fn transfer_expect(t: Transfer) -> Expect {
    Expect::Transfer(t.id.0, t.kind, t.amount.0, t.state)
}

fn apply(mut sut: Sut, model: &Model, op: Op) -> Sut {
    let (tenant, now) = (sut.tenant.clone(), model.now);
    match op {
        Op::Grant { id, amount, delay } => {
            let s = spec(id, amount, delay);
            let t = tenant;
            let answer = sut.call(move |st| {
                let (t, s) = (t.clone(), s.clone());
                Box::pin(async move { st.grant(&t, &s, &[], now).await })
            });
            compare(answer, &model.last, |_| Expect::Done, &op);
        }
        Op::Reserve { cause: c, amount } => {
            let t = tenant;
            let answer = sut.call(move |st| {
                let t = t.clone();
                Box::pin(async move { st.reserve(&t, &cause(c), Millicredits(amount), now + HOLD, now).await })
            });
            compare(answer, &model.last, transfer_expect, &op);
        }
        Op::Settle { cause: c, amount } => {
            let t = tenant;
            let answer = sut.call(move |st| {
                let t = t.clone();
                Box::pin(async move { st.settle(&t, &reserve_id(c), Millicredits(amount), now).await })
            });
            compare(answer, &model.last, transfer_expect, &op);
        }
        Op::Expire => {
            let t = tenant;
            let answer = sut.call(move |st| {
                let t = t.clone();
                Box::pin(async move { st.expire_due(&t, now, 100).await })
            });
            compare(answer, &model.last, Expect::Expired, &op);
        }
        Op::Suspend(s) => {
            let t = tenant;
            let answer = sut.call(move |st| {
                let t = t.clone();
                Box::pin(async move { st.set_suspended(&t, s, &[]).await })
            });
            compare(answer, &model.last, |()| Expect::Done, &op);
        }
        Op::Advance(_) => {}
        Op::Crash => sut.reopen(),
        Op::LoseAnswer => match sut.place {
            Place::Sqlite(_) => sut.reopen(),
            Place::Dynamo => {
                let proxy = &dynamo().proxy;
                let op = "dynamodb.TransactWriteItems";
                proxy.inject(op, proxy.count(op) + 1, 1, Fault::LoseAnswer);
            }
        },
    }
    sut
}

fn check(sut: &Sut, model: &Model) {
    let book = RT.block_on(sut.store().book(&sut.tenant, model.now)).expect("book");
    assert_eq!(book.broken(), None, "the ledger's invariants");
    assert_eq!(book.available().0, model.available(), "available");
    assert_eq!(book.reserved().0, model.reserved(), "reserved");
    assert_eq!(book.balance(Account::Spent).credits_posted.0, model.posted, "settled spending");
    assert_eq!(book.suspended, model.suspended, "suspended");
}

/// At the end of a case: each reservation resolved at most once and as the model says,
/// and the ledger's posts add up to the settled spending.
fn finish(sut: &Sut, model: &Model) {
    let store = Arc::clone(sut.store());
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = RT.block_on(store.transfers(&sut.tenant, after.as_deref(), 7)).expect("ledger page");
        all.extend(page.transfers);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut ids: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "every transfer id is listed once");
    for (c, (amount, _, res)) in &model.reservations {
        let id = reserve_id(*c);
        let stored = RT.block_on(store.transfer(&sut.tenant, &id)).expect("transfer").expect("the reservation exists");
        assert_eq!(stored.amount.0, *amount);
        assert_eq!(stored.state, Some(Model::state(*res)), "reservation {id}");
        let follows: Vec<&Transfer> = all.iter().filter(|t| t.follows.as_ref() == Some(&id)).collect();
        assert!(follows.len() <= 1, "{id} resolved at most once: {follows:?}");
        assert_eq!(follows.len(), usize::from(*res != Res::Pending), "{id} resolved once it is not pending");
    }
    let posted: u64 = all.iter().filter(|t| t.kind == TransferKind::Post).map(|t| t.amount.0).sum();
    assert_eq!(posted, model.posted, "the posts add up to the settled spending");
    let reserves = all.iter().filter(|t| t.kind == TransferKind::Reserve).count();
    assert_eq!(reserves, model.reservations.len(), "one reservation per cause, however often it was asked");
}

/// The model test on SQLite (`Ledger<false>`) or on DynamoDB (`Ledger<true>`).
struct Ledger<const DYNAMO: bool>;

impl<const DYNAMO: bool> StateMachineTest for Ledger<DYNAMO> {
    type SystemUnderTest = Sut;
    type Reference = Model;

    fn init_test(_: &Model) -> Sut {
        if DYNAMO {
            return Sut { store: Some(open_dynamo()), tenant: new_tenant(), place: Place::Dynamo };
        }
        let dir = tempfile::tempdir().expect("tmp");
        Sut { store: Some(open_sqlite(dir.path())), tenant: new_tenant(), place: Place::Sqlite(dir) }
    }

    fn apply(sut: Sut, model: &Model, op: Op) -> Sut {
        apply(sut, model, op)
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        check(sut, model);
    }

    fn teardown(sut: Sut, model: Model) {
        finish(&sut, &model);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn the_sqlite_ledger_behaves_as_the_model(sequential 1..48 => Ledger<false>);
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    #[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
    fn the_dynamodb_ledger_behaves_as_the_model(sequential 1..40 => Ledger<true>);
}

/// 16 tasks, `total` random operations in all on one tenant's ledger: after each, the
/// book read back keeps the invariants; at the end the book agrees with every task's
/// record of what it reserved and settled, and with the ledger's transfers.
async fn concurrent(store: Arc<dyn CreditStore>, total: usize) {
    let tenant = new_tenant();
    let grant = spec(0, 2_000_000, 0);
    store.grant(&tenant, &grant, &[], T0).await.expect("grant");
    let per = total / 16;
    let mut tasks = Vec::new();
    for task in 0..16u32 {
        let (store, tenant) = (Arc::clone(&store), tenant.clone());
        tasks.push(tokio::spawn(async move {
            let mut posted = 0u64;
            let mut open: Vec<(TransferId, u64)> = Vec::new();
            let mut made: Vec<(Cause, Transfer)> = Vec::new();
            let mut next = 0u32;
            for i in 0..per {
                let now = T0 + 1 + i as u64;
                let roll: u32 = rand::random_range(0..10);
                if roll == 0 && !made.is_empty() {
                    // A reservation asked again (a redelivered step) answers the first.
                    let (c, first) = &made[rand::random_range(0..made.len())];
                    let again = store.reserve(&tenant, c, first.amount, now + 60_000, now).await.expect("repeat");
                    assert_eq!((&again.id, again.amount, again.at_ms), (&first.id, first.amount, first.at_ms));
                } else if roll < 5 || open.is_empty() {
                    let c = Cause { run: format!("task-{task}"), step: next, attempt: 0 };
                    next += 1;
                    let amount = rand::random_range(1..3_000u64);
                    match store.reserve(&tenant, &c, Millicredits(amount), now + 60_000, now).await {
                        Ok(t) => {
                            open.push((t.id.clone(), t.amount.0));
                            made.push((c, t));
                        }
                        Err(CreditError::Refused(LedgerError::Insufficient { .. })) => {}
                        Err(e) => panic!("reserve: {e}"),
                    }
                } else {
                    let k = rand::random_range(0..open.len());
                    let (id, reserved) = open.swap_remove(k);
                    let amount = if roll == 9 { 0 } else { rand::random_range(1..=reserved) };
                    let t = store.settle(&tenant, &id, Millicredits(amount), now).await.expect("settle");
                    if t.kind == TransferKind::Post {
                        posted += t.amount.0;
                    }
                    // The same settle again (a redelivered step) answers the same.
                    let again = store.settle(&tenant, &id, Millicredits(amount), now + 1).await.expect("repeat");
                    assert_eq!(again, t, "a repeated settle answers the first");
                }
                let book = store.book(&tenant, now).await.expect("book");
                assert_eq!(book.broken(), None, "after operation {i} of task {task}");
            }
            let open_sum: u64 = open.iter().map(|o| o.1).sum();
            (posted, open_sum)
        }));
    }
    let mut posted = 0;
    let mut open = 0;
    for t in tasks {
        let (p, o) = t.await.expect("task");
        posted += p;
        open += o;
    }
    let book = store.book(&tenant, T0 + per as u64 + 10).await.expect("book");
    assert_eq!(book.broken(), None);
    assert_eq!(book.balance(Account::Spent).credits_posted.0, posted, "settled spending is what the tasks settled");
    assert_eq!(book.reserved().0, open, "reserved is what the tasks hold");
    assert_eq!(book.available().0, 2_000_000 - posted - open);
    let mut after: Option<String> = None;
    let mut listed_posts = 0;
    loop {
        let page = store.transfers(&tenant, after.as_deref(), 1000).await.expect("page");
        listed_posts += page.transfers.iter().filter(|t| t.kind == TransferKind::Post).map(|t| t.amount.0).sum::<u64>();
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(listed_posts, posted, "the ledger's posts are the settled spending");
}

#[test]
fn ten_thousand_concurrent_operations_keep_the_sqlite_ledger_whole() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open_sqlite(dir.path());
    RT.block_on(concurrent(store, 10_000));
}
