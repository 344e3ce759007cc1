//! The sentences of an impact: `raising on 10% → 25% moves 15.000% of users
//! from off to on; nobody leaves on`.

use super::impact::{Move, Outcome, Toggle, percent, variant_name};
use super::share::Share;

/// Joins `a`, `a and b`, `a, b and c`.
pub(super) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn headline(
    before: &Outcome,
    after: &Outcome,
    toggle: Option<Toggle>,
    off: Option<&str>,
) -> String {
    match toggle {
        Some(Toggle::Disabled) => return "disabling the flag".to_owned(),
        Some(Toggle::Enabled) => return "enabling the flag".to_owned(),
        None => {}
    }
    match (&before.weights, &after.weights) {
        (None, None) => format!(
            "serving {} instead of {}",
            after.describe(),
            before.describe()
        ),
        (Some(b), Some(a)) => {
            let names = |w: &[(String, u32)]| w.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>();
            let (names_b, names_a) = (names(b), names(a));
            if names_b == names_a {
                let changed: Vec<(&str, u32, u32)> = b
                    .iter()
                    .zip(a)
                    .filter(|((_, wb), (_, wa))| wb != wa)
                    .map(|((v, wb), (_, wa))| (v.as_str(), *wb, *wa))
                    .collect();
                if changed.len() == 2 {
                    let not_off: Vec<&(&str, u32, u32)> =
                        changed.iter().filter(|(v, _, _)| Some(*v) != off).collect();
                    let subject = match not_off.as_slice() {
                        [one] => **one,
                        _ => changed[0],
                    };
                    let (variant, from, to) = subject;
                    let verb = if to > from { "raising" } else { "lowering" };
                    return format!("{verb} {variant} {} → {}", percent(from), percent(to));
                }
            } else {
                let mut sorted_b = b.clone();
                let mut sorted_a = a.clone();
                sorted_b.sort();
                sorted_a.sort();
                if sorted_b == sorted_a {
                    return format!(
                        "reordering the variants ({} → {})",
                        names_b.join(", "),
                        names_a.join(", ")
                    );
                }
            }
            format!(
                "changing the weights ({} → {})",
                before.describe(),
                after.describe()
            )
        }
        _ => format!("changing {} → {}", before.describe(), after.describe()),
    }
}

pub(super) fn exact_summary(
    before: &Outcome,
    after: &Outcome,
    moves: &[Move],
    toggle: Option<Toggle>,
    off: Option<&str>,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (i, m) in moves.iter().enumerate() {
        let of_users = if i == 0 { " of users" } else { "" };
        parts.push(format!(
            "{}{of_users} from {} to {}",
            m.share,
            variant_name(m.from.as_deref()),
            variant_name(m.to.as_deref())
        ));
    }
    let mut text = format!(
        "{} moves {}",
        headline(before, after, toggle, off),
        and_list(&parts)
    );
    // Users losing a variant they had (other than the off variant) are said plainly.
    let mut tail: Vec<String> = Vec::new();
    let variants: Vec<Option<String>> = before.shares().into_iter().map(|(v, _)| v).collect();
    let outflow = |v: &Option<String>| {
        moves
            .iter()
            .filter(|m| &m.from == v)
            .fold(Share::NONE, |s, m| s.add(m.share))
    };
    for variant in &variants {
        if variant.is_none() || variant.as_deref() == off {
            continue;
        }
        let lost = outflow(variant);
        if lost.is_zero() {
            continue;
        }
        let name = variant_name(variant.as_deref());
        if moves.len() == 1 {
            tail.push(format!("they lose {name}"));
        } else {
            tail.push(format!("{lost} of users lose {name}"));
        }
    }
    let mut gainers: Vec<&Option<String>> = Vec::new();
    for m in moves {
        if !gainers.contains(&&m.to) {
            gainers.push(&m.to);
        }
    }
    for variant in gainers {
        if variant.is_none() || variant.as_deref() == off {
            continue;
        }
        if outflow(variant).is_zero() && variants.contains(variant) {
            tail.push(format!(
                "nobody leaves {}",
                variant_name(variant.as_deref())
            ));
        }
    }
    if !tail.is_empty() {
        text.push_str("; ");
        text.push_str(&tail.join("; "));
    }
    text
}
