//! Bank invariants: every committed read of all accounts sums to the initial
//! total, and no balance is ever negative.

use std::fmt;

use super::CheckError;
use crate::history::{BankOp, BankOperation, BankResult, Outcome};

/// One broken bank invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BankViolation {
    /// A read's balances do not add up to the total.
    WrongTotal {
        /// History index of the read.
        op: usize,
        /// The sum it saw.
        sum: i64,
        /// The sum it should have seen.
        expected: i64,
    },
    /// A read saw a negative balance.
    Negative {
        /// History index of the read.
        op: usize,
        /// The account.
        account: u64,
        /// Its balance.
        balance: i64,
    },
    /// A read did not return exactly the bank's accounts.
    WrongAccounts {
        /// History index of the read.
        op: usize,
        /// Accounts it returned.
        returned: Vec<u64>,
    },
}

impl fmt::Display for BankViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankViolation::WrongTotal { op, sum, expected } => {
                write!(f, "bank read #{op} sums to {sum}, expected {expected}")
            }
            BankViolation::Negative {
                op,
                account,
                balance,
            } => {
                write!(f, "bank read #{op} saw account {account} at {balance}")
            }
            BankViolation::WrongAccounts { op, returned } => {
                write!(f, "bank read #{op} returned accounts {returned:?}")
            }
        }
    }
}

/// Checks a bank history whose accounts start with balances summing to
/// `total`.
pub fn check_bank(
    history: &[BankOperation],
    accounts: &[u64],
    total: i64,
) -> Result<Vec<BankViolation>, CheckError> {
    let mut violations = Vec::new();
    let mut expected_accounts = accounts.to_vec();
    expected_accounts.sort_unstable();
    expected_accounts.dedup();
    for (index, op) in history.iter().enumerate() {
        let consistent = match (&op.op, &op.outcome) {
            (_, Outcome::Fail(_) | Outcome::Info(_)) => true,
            (BankOp::Transfer { amount, .. }, Outcome::Ok(BankResult::Transferred)) => *amount > 0,
            (BankOp::ReadAll, Outcome::Ok(BankResult::Balances(_))) => true,
            _ => false,
        };
        if !consistent {
            return Err(CheckError::Malformed {
                index,
                reason: format!("{:?} answered by {:?}", op.op, op.outcome),
            });
        }
        let Outcome::Ok(BankResult::Balances(balances)) = &op.outcome else {
            continue;
        };
        let returned: Vec<u64> = balances.keys().copied().collect();
        if returned != expected_accounts {
            violations.push(BankViolation::WrongAccounts {
                op: index,
                returned,
            });
            continue;
        }
        let sum: i64 = balances.values().sum();
        if sum != total {
            violations.push(BankViolation::WrongTotal {
                op: index,
                sum,
                expected: total,
            });
        }
        for (&account, &balance) in balances {
            if balance < 0 {
                violations.push(BankViolation::Negative {
                    op: index,
                    account,
                    balance,
                });
            }
        }
    }
    Ok(violations)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::history::{Operation, ProcessId};

    fn read(balances: &[(u64, i64)]) -> BankOperation {
        Operation {
            process: ProcessId(0),
            invoke_us: 0,
            complete_us: 1,
            op: BankOp::ReadAll,
            outcome: Outcome::Ok(BankResult::Balances(
                balances.iter().copied().collect::<BTreeMap<_, _>>(),
            )),
        }
    }

    fn transfer(amount: i64) -> BankOperation {
        Operation {
            process: ProcessId(1),
            invoke_us: 0,
            complete_us: 1,
            op: BankOp::Transfer {
                from: 0,
                to: 1,
                amount,
            },
            outcome: Outcome::Ok(BankResult::Transferred),
        }
    }

    #[test]
    fn conserved_totals_pass() {
        let h = vec![
            read(&[(0, 10), (1, 10)]),
            transfer(5),
            read(&[(0, 5), (1, 15)]),
        ];
        assert_eq!(check_bank(&h, &[0, 1], 20).unwrap(), vec![]);
    }

    #[test]
    fn a_read_that_sees_half_a_transfer_is_caught() {
        let h = vec![transfer(5), read(&[(0, 5), (1, 10)])];
        assert_eq!(
            check_bank(&h, &[0, 1], 20).unwrap(),
            vec![BankViolation::WrongTotal {
                op: 1,
                sum: 15,
                expected: 20
            }]
        );
    }

    #[test]
    fn overdraft_is_caught() {
        let h = vec![read(&[(0, -5), (1, 25)])];
        assert_eq!(
            check_bank(&h, &[0, 1], 20).unwrap(),
            vec![BankViolation::Negative {
                op: 0,
                account: 0,
                balance: -5
            }]
        );
    }

    #[test]
    fn missing_accounts_are_caught() {
        let h = vec![read(&[(0, 20)])];
        assert!(matches!(
            check_bank(&h, &[0, 1], 20).unwrap()[..],
            [BankViolation::WrongAccounts { op: 0, .. }]
        ));
    }

    #[test]
    fn malformed_answers_are_errors() {
        let mut bad = transfer(5);
        bad.outcome = Outcome::Ok(BankResult::Balances(BTreeMap::new()));
        assert!(check_bank(&[bad], &[0, 1], 20).is_err());
    }
}
