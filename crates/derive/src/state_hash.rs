//! `#[derive(StateHash)]`: every field, in order, but those marked
//! `#[state_hash(skip)]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, GenericParam, Index, parse_quote};

use crate::attrs;

/// The pattern binding a variant's hashed fields, and the statements
/// feeding them.
fn variant(path: TokenStream, fields: &Fields) -> syn::Result<(TokenStream, Vec<TokenStream>)> {
    let mut feeds = Vec::new();
    let pat = match fields {
        Fields::Unit => path,
        Fields::Named(n) => {
            let mut binds = Vec::new();
            for (i, f) in n.named.iter().enumerate() {
                if attrs::hash_skipped(&f.attrs)? {
                    continue;
                }
                let (ident, b) = (&f.ident, format_ident!("__field{}", i));
                binds.push(quote!(#ident: #b));
                feeds.push(quote!(__h.feed(#b);));
            }
            quote!(#path { #(#binds,)* .. })
        }
        Fields::Unnamed(u) => {
            let mut binds = Vec::new();
            for (i, f) in u.unnamed.iter().enumerate() {
                if attrs::hash_skipped(&f.attrs)? {
                    binds.push(quote!(_));
                    continue;
                }
                let b = format_ident!("__field{}", i);
                binds.push(quote!(#b));
                feeds.push(quote!(__h.feed(#b);));
            }
            quote!(#path(#(#binds),*))
        }
    };
    Ok((pat, feeds))
}

/// `#[derive(StateHash)]`.
pub fn state_hash(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ident = &input.ident;
    let body = match &input.data {
        Data::Struct(s) => {
            let mut feeds = Vec::new();
            for (i, f) in s.fields.iter().enumerate() {
                if attrs::hash_skipped(&f.attrs)? {
                    continue;
                }
                match &f.ident {
                    Some(name) => feeds.push(quote!(__h.feed(&self.#name);)),
                    None => {
                        let index = Index::from(i);
                        feeds.push(quote!(__h.feed(&self.#index);));
                    }
                }
            }
            quote!(#(#feeds)*)
        }
        Data::Enum(e) => {
            let mut arms = Vec::new();
            for (i, v) in e.variants.iter().enumerate() {
                let name = &v.ident;
                let index = i as u32;
                let (pat, feeds) = variant(quote!(Self::#name), &v.fields)?;
                arms.push(quote!(#pat => { __h.u32(#index); #(#feeds)* }));
            }
            if arms.is_empty() {
                quote!(match *self {})
            } else {
                quote!(match self { #(#arms)* })
            }
        }
        Data::Union(_) => {
            return Err(syn::Error::new(
                ident.span(),
                "#[derive(StateHash)] is for structs and enums",
            ));
        }
    };
    let mut generics = input.generics.clone();
    for param in &mut generics.params {
        if let GenericParam::Type(t) = param {
            t.bounds.push(parse_quote!(::tickwire_sim::StateHash));
        }
    }
    let (impl_g, ty_g, where_g) = generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_g ::tickwire_sim::StateHash for #ident #ty_g #where_g {
            fn hash_state(&self, __h: &mut ::tickwire_sim::StateHasher) {
                #body
            }
        }
    })
}
