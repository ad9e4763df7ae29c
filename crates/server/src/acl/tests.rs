//! The rule parser: Redis's errors for bad rules, descriptions that read back to the same
//! user, and random rule strings that never panic.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::describe::{command_rules, user};
use super::rules::{merge_selectors, RuleError, User};

fn apply_all(u: &mut User, rules: &[&str]) -> Result<(), RuleError> {
    for r in rules {
        u.apply(r.as_bytes(), false)?;
    }
    Ok(())
}

#[test]
fn bad_rules_give_redis_errors() {
    let cases: &[(&str, RuleError)] = &[
        ("+nosuchcommand", RuleError::UnknownCommand),
        ("-nosuchcommand", RuleError::UnknownCommand),
        ("+@nosuchcategory", RuleError::UnknownCommand),
        ("+", RuleError::UnknownCommand),
        ("bogus", RuleError::Syntax),
        ("%X~x", RuleError::Syntax),
        ("%RR~x", RuleError::Syntax),
        ("~a\tb", RuleError::Syntax),
        ("#abc", RuleError::BadHash),
        ("<notthere", RuleError::NoSuchPassword),
        ("+config|get|x", RuleError::SubcommandFirstArg),
        ("+get|", RuleError::Syntax),
        ("+config|nosuch", RuleError::UnknownCommand),
        ("-select|0", RuleError::UnknownCommand),
        ("(+get bogus)", RuleError::Syntax),
    ];
    for (rule, want) in cases {
        let mut u = User::new(b"u", false);
        assert_eq!(u.apply(rule.as_bytes(), false), Err(*want), "{rule}");
    }
    let mut u = User::new(b"u", false);
    assert_eq!(
        apply_all(&mut u, &["~*", "~foo"]),
        Err(RuleError::KeyAfterAll)
    );
    let mut u = User::new(b"u", false);
    assert_eq!(
        apply_all(&mut u, &["&*", "&foo"]),
        Err(RuleError::ChannelAfterAll)
    );
    assert_eq!(
        RuleError::UnknownCommand.message(),
        "Unknown command or category name in ACL"
    );
    assert_eq!(
        merge_selectors(&[b"(+get".to_vec(), b"~x".to_vec()]),
        Err(0)
    );
}

#[test]
fn descriptions_read_as_redis_writes_them() {
    let mut u = User::new(b"u1", false);
    apply_all(
        &mut u,
        &[
            "on",
            ">pw",
            "~app:*",
            "+@read",
            "-@dangerous",
            "%R~r*",
            "&ch*",
        ],
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(user(&u)).unwrap(),
        "on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~app:* %R~r* resetchannels &ch* -@all +@read -keys -sort_ro"
    );
    let d = User::default_user(false);
    assert_eq!(
        String::from_utf8(user(&d)).unwrap(),
        "on nopass ~* &* +@all"
    );
    assert!(d.unrestricted());
    let mut r = User::new(b"r", false);
    apply_all(
        &mut r,
        &[
            "+@all",
            "-@dangerous",
            "+select|0",
            "-config",
            "+config|get",
        ],
    )
    .unwrap();
    assert!(command_rules(&r.selectors[0]).starts_with("+@all -@dangerous"));
}

/// A description applied to a fresh user gives the same user.
fn round_trips(u: &User) {
    let text = user(u);
    let mut back = User::new(&u.name, false);
    let args = amber_resp::parse::split_args(&text).unwrap();
    for op in merge_selectors(&args).unwrap() {
        back.apply(&op, false).unwrap();
    }
    assert_eq!(user(&back), text);
    for (a, b) in back.selectors.iter().zip(&u.selectors) {
        assert_eq!(a.bits, b.bits, "{}", String::from_utf8_lossy(&text));
    }
}

const WORDS: &[&str] = &[
    "on",
    "off",
    "nopass",
    "resetpass",
    "reset",
    "allkeys",
    "resetkeys",
    "allchannels",
    "resetchannels",
    "allcommands",
    "nocommands",
    "clearselectors",
    "+@all",
    "-@all",
    "+@read",
    "-@write",
    "+@dangerous",
    "-@admin",
    "+get",
    "-set",
    "+config|get",
    "-config",
    "+client|id",
    "+select|0",
    "+debug|object",
    "~k*",
    "%R~r*",
    "%W~w*",
    "%RW~x",
    "&ch*",
    ">pw",
    "<pw",
    "#",
    "!",
    "(",
    ")",
    "(+get ~s*)",
    "( ",
    "|",
    "%",
    "~",
    "&",
    "+",
    "-",
    "+@",
    "sanitize-payload",
    "skip-sanitize-payload",
];

#[test]
fn random_rules_never_panic_and_valid_users_round_trip() {
    let mut rng = SmallRng::seed_from_u64(7);
    for _ in 0..400 {
        let mut u = User::new(b"f", rng.gen());
        for _ in 0..rng.gen_range(1..10) {
            let op: Vec<u8> = if rng.gen_bool(0.7) {
                WORDS[rng.gen_range(0..WORDS.len())].as_bytes().to_vec()
            } else {
                (0..rng.gen_range(0..12))
                    .map(|_| {
                        let set = b"+-~%&#!<>()|@RW* \t\x00ab";
                        set[rng.gen_range(0..set.len())]
                    })
                    .collect()
            };
            let _ = u.apply(&op, false);
        }
        round_trips(&u);
    }
}
