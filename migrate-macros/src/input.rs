//! The macro's arguments: `"dir"` and optionally `, check = false`.

use syn::parse::{Parse, ParseStream};
use syn::{LitBool, LitStr, Token};

pub struct Input {
    pub dir: LitStr,
    pub check: Check,
}

/// Whether to apply the set to an in-memory database at compile time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Apply,
    Skip,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let dir: LitStr = input.parse()?;
        let mut check = Check::Apply;
        while input.parse::<Token![,]>().is_ok() && !input.is_empty() {
            let key: syn::Ident = input.parse()?;
            if key != "check" {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown option `{key}`; the only option is `check = true|false`"),
                ));
            }
            input.parse::<Token![=]>()?;
            let value: LitBool = input.parse()?;
            check = if value.value {
                Check::Apply
            } else {
                Check::Skip
            };
        }
        if !input.is_empty() {
            return Err(input.error("expected `embed_migrations!(\"dir\")` or `embed_migrations!(\"dir\", check = false)`"));
        }
        Ok(Self { dir, check })
    }
}
